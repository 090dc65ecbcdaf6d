"""Meta's template definition read, filled and turned into a send."""

from __future__ import annotations

import json

import pytest

from service.bridge.events.templates import Template, TemplateDefinitionError, parse_definition
from service.bridge.text.templates import parameter_problem, templates_note

ORDER = {
    "name": "order_update",
    "language": "en_US",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Your order {{1}} is {{2}}."},
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]},
    ],
}


def test_placeholders_are_counted_header_first() -> None:
    template = parse_definition(json.dumps(ORDER))
    assert (template.header_parameters, template.body_parameters) == (1, 2)
    assert template.parameters == 3
    assert template.approved


def test_a_send_fills_header_then_body() -> None:
    template = parse_definition(ORDER)
    fields = template.message_fields(["A-1", "A-1", "shipped"])
    assert fields == {
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "A-1"}]},
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "A-1"},
                        {"type": "text", "text": "shipped"},
                    ],
                },
            ],
        },
    }
    assert template.rendered(["A-1", "A-1", "shipped"]) == (
        "Order A-1\nYour order A-1 is shipped.\nReply STOP to opt out"
    )
    with pytest.raises(ValueError, match="takes 3"):
        template.message_fields(["A-1"])


def test_a_template_without_placeholders_sends_no_components() -> None:
    welcome = Template(name="welcome", language="en_US", category="MARKETING", status="APPROVED")
    assert welcome.message_fields([]) == {
        "type": "template",
        "template": {"name": "welcome", "language": {"code": "en_US"}},
    }


@pytest.mark.parametrize("definition", ["not json", "[]", json.dumps({"components": []})])
def test_an_unreadable_definition_is_refused(definition: str) -> None:
    with pytest.raises(TemplateDefinitionError):
        parse_definition(definition)


def test_a_media_header_is_refused_rather_than_sent_wrong() -> None:
    media = {**ORDER, "components": [{"type": "HEADER", "format": "IMAGE"}]}
    with pytest.raises(TemplateDefinitionError, match="media header"):
        parse_definition(media)


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        (["A-1", "shipped"], "takes 3 parameters, you gave 2"),
        (["A-1", " ", "x"], "parameter 2 is empty"),
        (["A-1", "two\nlines", "x"], "line break"),
        (["A-1", "x" * 1025, "x"], "longer than 1024"),
    ],
)
def test_parameters_meta_would_refuse_are_explained(parameters: list[str], problem: str) -> None:
    reason = parameter_problem(parse_definition(ORDER), parameters)
    assert reason is not None
    assert problem in reason
    assert parameter_problem(parse_definition(ORDER), ["A-1", "A-1", "ok"]) is None


def test_the_list_shows_only_approved_templates_with_their_parameters() -> None:
    pending = Template(name="sale", language="en_US", category="MARKETING", status="PENDING")
    note = templates_note([parse_definition(ORDER), pending], business="1555")
    assert "order_update (en_US, utility): 3 parameters" in note
    assert "Order {{1}} / Your order {{1}} is {{2}}." in note
    assert "sale" not in note
    assert "/template NAME" in note
    assert "No approved" in templates_note([pending], business="1555")
