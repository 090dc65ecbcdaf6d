"""Synthesize the bridge's CDK app: `python deploy/app.py` (or `cdk synth` from deploy/)."""

import sys
from pathlib import Path

# The stack imports the service's own resource definitions (`service.resources`), so the
# repository root must be importable however this file is started: `python deploy/app.py`
# from the root, `python app.py` by the CDK CLI from deploy/, or by absolute path.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from deploy.bridge.assembly import main  # noqa: E402  needs the path set up above

if __name__ == "__main__":
    main()
