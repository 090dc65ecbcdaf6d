"""cdk-nag (AWS Solutions): no unacknowledged finding, and every acknowledgment explained.

cdk-nag 3 reports through CDK's policy-validation framework, not through annotations: a
finding at error level fails the synthesis itself, and every finding (errors and warnings)
is in the cloud assembly's validation report.
"""

from __future__ import annotations

import json

from aws_cdk import Validations

from deploy.bridge.nag import PLUGIN, accepted_findings

MIN_REASON_LENGTH = 60


def _report(synth):
    return json.loads((synth.outdir / "validation-report.json").read_text(encoding="utf-8"))


def test_aws_solutions_checks_ran_and_found_nothing_unacknowledged(synthesized, custom):
    for synth in (synthesized, custom):
        reports = {report["pluginName"]: report for report in _report(synth)["pluginReports"]}
        assert PLUGIN in reports
        for report in reports.values():
            assert report["violations"] == [], report["pluginName"]
            assert report["conclusion"] == "success"


def test_synthesis_leaves_no_warning_or_error_annotation(synthesized):
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text(encoding="utf-8"))
    problems = [
        (path, entry["type"], entry.get("data"))
        for artifact in manifest["artifacts"].values()
        for path, entries in (artifact.get("metadata") or {}).items()
        for entry in entries
        if entry["type"] in {"aws:cdk:warning", "aws:cdk:error"}
    ]
    assert problems == []


def _acknowledged(synth):
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    return {
        (construct.node.path, rule): reason
        for construct in synth.stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == key
        for rule, reason in entry.data.items()
        if rule.startswith(f"{PLUGIN}::")
    }


def test_every_acknowledgment_is_one_of_the_reviewed_list_with_a_real_reason(synthesized):
    acknowledged = _acknowledged(synthesized)
    reviewed = {
        (finding.construct.node.path, finding.acknowledgment_id): finding.reason
        for finding in accepted_findings(synthesized.stack)
    }
    assert acknowledged == reviewed
    for (path, rule), reason in acknowledged.items():
        assert len(reason) >= MIN_REASON_LENGTH, (path, rule)
    # Acknowledged on the narrowest construct, never on the whole stack.
    assert synthesized.stack.node.path not in {path for path, _ in acknowledged}
    # Wildcard findings are acknowledged per resource pattern, never for a rule as a whole.
    assert all("[" in rule for _, rule in acknowledged if "IAM5" in rule)
