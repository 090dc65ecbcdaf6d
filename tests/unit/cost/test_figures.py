"""`bench/cost`: the figures the cost table is made of, from known inputs (the scenarios
themselves run in `make bench`)."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.cost.probe import Reading, parse_metrics
from bench.cost.report import ROWS, rows, table
from bench.cost.scenarios import Figures
from bench.cost.traffic import Burst, Reply, delivered, sent_to_whatsapp, tumbling_window

METRICS = """\
# HELP bridge_aws_requests_total AWS requests sent (retries included), by service and operation
# TYPE bridge_aws_requests_total counter
bridge_aws_requests_total{operation="PutItem",service="dynamodb"} 3.0
bridge_aws_requests_total{operation="ReceiveMessage",service="sqs"} 12.0
# HELP bridge_aws_requests_created AWS requests sent
# TYPE bridge_aws_requests_created gauge
bridge_aws_requests_created{operation="PutItem",service="dynamodb"} 1.7e9
# HELP bridge_connect_ratelimit_wait_seconds_total Seconds Connect calls waited
# TYPE bridge_connect_ratelimit_wait_seconds_total counter
bridge_connect_ratelimit_wait_seconds_total{api="SendMessage"} 12.5
bridge_connect_ratelimit_wait_seconds_created{api="SendMessage"} 1.7e9
# HELP bridge_burst_latency_seconds From the burst's last message to its delivery.
# TYPE bridge_burst_latency_seconds histogram
bridge_burst_latency_seconds_bucket{le="+Inf"} 4.0
bridge_burst_latency_seconds_count 4.0
bridge_burst_latency_seconds_sum 21.0
# HELP bridge_aws_call_seconds AWS calls, by service and operation
# TYPE bridge_aws_call_seconds histogram
bridge_aws_call_seconds_bucket{le="+Inf",operation="GetItem",service="dynamodb"} 4.0
bridge_aws_call_seconds_count{operation="GetItem",service="dynamodb"} 4.0
bridge_aws_call_seconds_sum{operation="GetItem",service="dynamodb"} 0.2
# HELP bridge_intake_lag_seconds From publication to the owner
# TYPE bridge_intake_lag_seconds histogram
bridge_intake_lag_seconds_bucket{direction="inbound",le="+Inf"} 2.0
bridge_intake_lag_seconds_count{direction="inbound"} 2.0
bridge_intake_lag_seconds_sum{direction="inbound"} 0.5
# HELP bridge_buffer_customers Customers with buffered messages.
# TYPE bridge_buffer_customers gauge
bridge_buffer_customers 42.0
"""


def test_requests_by_operation_gauges_quota_waits_and_burst_latency_are_read():
    metrics = parse_metrics(METRICS)
    assert metrics.requests == Counter({"dynamodb.PutItem": 3, "sqs.ReceiveMessage": 12})
    assert metrics.gauges["bridge_buffer_customers"] == 42.0
    assert metrics.quota_wait_s == {"SendMessage": 12.5}
    assert metrics.burst_latency == (21.0, 4.0)
    assert metrics.call_s == {"dynamodb.GetItem": (0.2, 4.0)}
    assert metrics.intake_lag == {"inbound": (0.5, 2.0)}


def test_what_a_window_spent_is_the_difference_of_two_readings():
    before = Reading(10.0, {"bridge": 1.0}, {"bridge": 100.0}, Counter({"sqs.ReceiveMessage": 5}))
    after = Reading(
        14.0,
        {"bridge": 1.5},
        {"bridge": 101.0},
        Counter({"sqs.ReceiveMessage": 9, "dynamodb.PutItem": 2}),
    )
    spent = after.since(before)
    assert spent.wall_s == 4.0
    assert spent.cpu_s == {"bridge": 0.5}
    assert spent.requests == Counter({"sqs.ReceiveMessage": 4, "dynamodb.PutItem": 2})
    assert spent.total_requests == 6


def test_mean_call_time_is_of_the_calls_made_in_the_window():
    before = Reading(10.0, {}, {}, call_s={"dynamodb.GetItem": (1.0, 10.0), "sqs.X": (1.0, 2.0)})
    after = Reading(14.0, {}, {}, call_s={"dynamodb.GetItem": (4.0, 20.0), "sqs.X": (1.0, 2.0)})
    # 3 s over 10 calls made in the window; an operation not called in it has no mean.
    assert after.since(before).call_mean_s == {"dynamodb.GetItem": pytest.approx(0.3)}


def test_the_tumbling_window_splits_a_burst_across_its_boundary_and_waits_for_its_end():
    inside = Burst(1, ["a", "b"], sent_at=[100.5, 103.0])  # window [100, 120)
    across = Burst(2, ["c", "d", "e"], sent_at=[118.0, 119.5, 121.0])  # [100,120) and [120,140)
    pieces, waits = tumbling_window([inside, across], 20.0)
    assert pieces == [1, 2]
    assert waits == [pytest.approx(17.0), pytest.approx(19.0)]


def test_delivery_finds_markers_in_customer_items_only_and_counts_the_items():
    contacts = [
        {
            "contactId": "c-1",
            "transcript": [
                {
                    "participantRole": "CUSTOMER",
                    "content": "q0c1b0m0 hello\nq0c1b0m1 hello",
                    "time": "2026-11-27T10:00:05+00:00",
                },
                {
                    "participantRole": "AGENT",
                    "content": "you wrote q0c1b0m2",
                    "time": "2026-11-27T10:00:06+00:00",
                },
                {
                    "participantRole": "CUSTOMER",
                    "content": "q0c1b0m2 hello",
                    "time": "2026-11-27T10:00:07+00:00",
                },
            ],
        }
    ]
    found = delivered(contacts)
    assert found["q0c1b0m0"][2] == found["q0c1b0m1"][2] != found["q0c1b0m2"][2]
    assert found["q0c1b0m2"][1] == "c-1"
    assert found["q0c1b0m2"][0] == pytest.approx(1795773607.0)


def test_replies_are_found_in_whatsapp_texts_the_first_send_counts():
    outbox = [
        {
            "message": {"type": "text", "text": {"body": "q1a2n0 ok"}},
            "time": "2026-11-27T10:00:01+00:00",
        },
        {
            "message": {"type": "text", "text": {"body": "q1a2n0 ok"}},
            "time": "2026-11-27T10:00:09+00:00",
        },
        {"message": {"type": "image", "image": {"id": "m"}}, "time": "2026-11-27T10:00:02+00:00"},
    ]
    sent = sent_to_whatsapp(outbox)
    assert list(sent) == ["q1a2n0"]
    assert sent["q1a2n0"] == pytest.approx(1795773601.0)
    assert Reply("q1a2n0", 1795773600.5).written_at < sent["q1a2n0"]


def test_the_table_shows_the_median_and_spread_and_judges_against_the_goal():
    runs = {
        "idle": [
            Figures({"cpu_pct": 0.5, "rss_mb": 70.0}),
            Figures({"cpu_pct": 0.2, "rss_mb": 72.0}),
            Figures({"cpu_pct": 0.25, "rss_mb": 90.0}),
        ]
    }
    made = {row["figure"]: row for row in rows(runs)}
    assert made["bridge CPU idle, no traffic"]["median"] == 0.25
    assert made["bridge CPU idle, no traffic"]["verdict"] == "met"
    assert made["RSS idle"]["verdict"] == "met"  # median 72 ≤ 80, though one run was 90
    assert made["AWS calls per burst, new chat"]["values"] == []
    printed = table(runs)
    assert "0.25 [0.2-0.5] %" in printed
    assert printed.count("not run") == sum(1 for row in ROWS if row.scenario != "idle")
