"""The agent's slash commands: what is a command, and how `/template` reads."""

from __future__ import annotations

import pytest

from service.bridge.text.commands import BadCommand, ListTemplates, SendTemplate, parse_command


@pytest.mark.parametrize("text", ["/templates", "  /templates  ", "/TEMPLATES"])
def test_templates_lists(text: str) -> None:
    assert parse_command(text) == ListTemplates()


@pytest.mark.parametrize(
    "text",
    ["", "hello", "/shrug", "see /template", "https://example.com/template", "/templates now"],
)
def test_anything_else_is_text_for_the_customer(text: str) -> None:
    assert parse_command(text) is None


def test_a_template_with_a_language_and_parameters() -> None:
    command = parse_command("/template order_update en_US A-123 | shipped today")
    assert isinstance(command, SendTemplate)
    assert command.resolve(["en_US", "es_MX"]) == ("en_US", ("A-123", "shipped today"))


def test_a_first_word_that_is_not_one_of_the_templates_languages_is_a_parameter() -> None:
    command = parse_command("/template reengage ana | Sam")
    assert isinstance(command, SendTemplate)
    assert command.resolve(["en_US"]) == (None, ("ana", "Sam"))
    assert command.resolve(["ana"]) == ("ana", ("", "Sam"))


def test_no_parameters_and_an_empty_one_are_told_apart() -> None:
    bare = parse_command("/template welcome")
    assert isinstance(bare, SendTemplate)
    assert bare.resolve(["en_US"]) == (None, ())
    languaged = parse_command("/template welcome en-US")
    assert isinstance(languaged, SendTemplate)
    assert languaged.resolve(["en_US"]) == ("en_US", ())
    empty = parse_command("/template reengage | Sam")
    assert isinstance(empty, SendTemplate)
    assert empty.resolve(["en_US"]) == (None, ("", "Sam"))


@pytest.mark.parametrize("text", ["/template", "/template Order-Update x"])
def test_a_missing_or_malformed_name_is_explained(text: str) -> None:
    command = parse_command(text)
    assert isinstance(command, BadCommand)
    assert "Usage: /template" in command.reason
