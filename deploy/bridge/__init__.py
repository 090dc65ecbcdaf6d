"""The bridge's AWS CDK app (ECS Fargate), built from the shared `service.resources` specs.

Importing this package selects the Node.js that jsii runs (`node.py`). That must happen
before the first `import aws_cdk`, which starts the jsii kernel; every module here imports
aws_cdk, and the package runs first, so no entry point can get the order wrong.
"""

from deploy.bridge.node import ensure_jsii_node

ensure_jsii_node()
