"""Regenerate the settings table in README.md from the Settings model."""

import re
from pathlib import Path

from service.settings import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- settings:start -->\n)(?:.*?\n)?(<!-- settings:end -->)", re.DOTALL)


def main() -> None:
    text = README.read_text()
    updated, count = BLOCK.subn(lambda m: m.group(1) + settings_table() + "\n" + m.group(2), text)
    if count != 1:
        raise SystemExit("README.md has no settings block to update")
    README.write_text(updated)


if __name__ == "__main__":
    main()
