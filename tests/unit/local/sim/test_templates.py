"""The simulator's template catalog: Meta's checks of a definition and of a send."""

from __future__ import annotations

from typing import Any

import pytest

from service.local.sim.templates import (
    PARAMETER_COUNT,
    PARAMETER_FORMAT,
    TEMPLATE_MISSING,
    TemplateCatalog,
    TemplateError,
    TemplateExistsError,
    check_components,
    placeholders,
)

WABA = "100000000000001"


def _part(name: str, language: str = "en_US", *components: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "language": {"code": language}, "components": list(components)}


def _body(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "body", "parameters": list(parameters)}


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def test_placeholders_are_distinct_and_in_order():
    assert placeholders("{{2}} and {{1}}, {{ 2 }} again") == ["2", "1"]
    assert placeholders("no variables {here}") == []


@pytest.mark.parametrize(
    ("components", "says"),
    [
        ([], "needs a BODY"),
        ([{"type": "BODY", "text": ""}], "BODY text must be 1 to 1024"),
        ([{"type": "BODY", "text": "{{1}} {{3}}"}], "in order"),
        ([{"type": "BODY", "text": "x"}, {"type": "FOOTER", "text": "{{1}}"}], "FOOTER"),
        ([{"type": "BODY", "text": "x"}, {"type": "HEADER", "format": "GIF"}], "HEADER format"),
        (
            [
                {"type": "BODY", "text": "x"},
                {"type": "HEADER", "format": "TEXT", "text": "{{1}}{{2}}"},
            ],
            "at most 1 placeholder",
        ),
        ([{"type": "BODY", "text": "x"}, {"type": "BUTTONS", "buttons": []}], "1 to 10 buttons"),
        ([{"type": "CAROUSEL"}], "component type"),
    ],
)
def test_definitions_meta_would_refuse(components, says):
    with pytest.raises(TemplateError, match=says):
        check_components(components)


def test_meta_ids_are_the_same_after_a_reset_and_new_ones_follow():
    catalog = TemplateCatalog(WABA)
    seeded = [t.meta_id for t in catalog.templates(WABA)]
    added = catalog.add(
        WABA,
        name="x",
        language="en",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "x"}],
    )
    assert int(added.meta_id) == int(seeded[-1]) + 1
    with pytest.raises(TemplateExistsError):
        catalog.add(
            WABA,
            name="welcome",
            language="en_US",
            category="MARKETING",
            status="APPROVED",
            components=[{"type": "BODY", "text": "x"}],
        )
    catalog.reset()
    assert [t.meta_id for t in catalog.templates()] == seeded
    assert catalog.templates("another waba") == []


def test_currency_and_date_time_parameters_fill_placeholders_with_their_fallback():
    catalog = TemplateCatalog(WABA)
    money = {"type": "currency", "currency": {"fallback_value": "$5", "code": "USD"}}
    when = {"type": "date_time", "date_time": {"fallback_value": "May 1"}}
    sent = catalog.prepare(WABA, _part("reengage", "en_US", _body(money, when)))
    assert sent.error is None
    assert sent.rendered is not None
    assert sent.rendered.startswith("Hello $5, May 1 from our team")


def test_a_placeholders_value_is_not_read_as_a_pattern():
    catalog = TemplateCatalog(WABA)
    sent = catalog.prepare(WABA, _part("reengage", "en_US", _body(_text(r"\1 {{2}}"), _text("B"))))
    assert sent.rendered is not None
    assert sent.rendered.startswith(r"Hello \1 {{2}}, B from")


@pytest.mark.parametrize(
    ("part", "code"),
    [
        (_part("welcome", "en"), TEMPLATE_MISSING),
        (_part("spring_sale", "en_US", _body(_text("20%"))), TEMPLATE_MISSING),
        (
            _part("welcome", "en_US", {"type": "header", "parameters": [_text("x")]}),
            PARAMETER_COUNT,
        ),
        (_part("reengage", "en_US", _body(_text("a"), {"type": "image"})), PARAMETER_FORMAT),
    ],
)
def test_sends_meta_fails_later(part, code):
    sent = TemplateCatalog(WABA).prepare(WABA, part)
    assert (sent.error, sent.rendered) == (code, None)
    assert sent.details


def test_a_button_components_parameters_are_not_counted_against_the_body():
    button = {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": []}
    sent = TemplateCatalog(WABA).prepare(WABA, _part("welcome", "en_US", button))
    assert sent.rendered == "Welcome to our store! How can we help?"
