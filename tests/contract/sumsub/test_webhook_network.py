"""What the network does to webhooks, checked on both sides: the network's and the sender's journals,
and the requests the receiving app actually got."""

import pytest

from sim.clock import VirtualClock
from sim.network import Match
from sim.seed import Seed
from sim.sumsub import SumsubFake

LEVEL = "basic-kyc-level"


def lifecycle(sumsub: SumsubFake, external_user_id: str = "customer-1") -> str:
    """created, pending, reviewed (RED RETRY), pending, reviewed (GREEN): five webhooks in one instant."""
    applicant = sumsub.create_applicant(external_user_id, LEVEL)
    sumsub.submit_documents(applicant.id)
    sumsub.review(applicant.id, "RED", labels=["SCREENSHOTS"], reject_type="RETRY")
    sumsub.submit_documents(applicant.id)
    sumsub.review(applicant.id, "GREEN")
    return applicant.id


SENT_ORDER = ["applicantCreated", "applicantPending", "applicantReviewed", "applicantPending", "applicantReviewed"]


async def test_without_rules_everything_arrives_once_in_order(sumsub: SumsubFake, receiver,
                                                              clock: VirtualClock) -> None:
    lifecycle(sumsub)
    await clock.run_due()
    assert receiver.types == SENT_ORDER
    arrivals = sumsub.network.arrivals()
    assert [r.event_type for r in arrivals] == SENT_ORDER
    assert [r.body for r in arrivals] == [w.body for w in receiver.received]
    assert [r.status for r in arrivals] == [200] * 5


async def test_duplicate_delivers_extra_identical_copies(sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    sumsub.network.duplicate(2, match="applicantReviewed")
    applicant_id = lifecycle(sumsub)
    await clock.run_due()
    assert receiver.types == ["applicantCreated", "applicantPending", "applicantReviewed", "applicantReviewed",
                              "applicantReviewed", "applicantPending", "applicantReviewed"]
    copies = receiver.received[2:5]
    assert len({(w.body, w.headers["x-payload-digest"]) for w in copies}) == 1
    # only the first matching message was duplicated (count=1)
    assert [r.copy for r in sumsub.network.arrivals(match="applicantReviewed")] == [0, 1, 2, 0]
    # the sender made one attempt per event and saw one answer each
    assert [a.attempt for a in sumsub.webhooks.journal] == [1] * 5
    assert all(d.state == "delivered" for d in sumsub.webhooks.deliveries)
    assert {w.payload["applicantId"] for w in receiver.received} == {applicant_id}


async def test_spaced_duplicates_arrive_later_on_the_clock(sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    sumsub.network.duplicate(2, match="applicantCreated", spacing=600)
    sumsub.create_applicant("customer-1", LEVEL)
    start = clock.time()
    await clock.advance(599)
    assert receiver.times() == [start]
    await clock.advance(601)
    assert receiver.times() == [start, start + 600, start + 1200]
    assert len({w.body for w in receiver.received}) == 1


async def test_delay_lets_a_later_event_overtake(sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    sumsub.network.delay(600, match="applicantPending")
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    start = clock.time()
    sumsub.submit_documents(applicant.id)
    await clock.advance(60)
    sumsub.review(applicant.id, "GREEN")
    await clock.run_due()
    assert receiver.types == ["applicantCreated", "applicantReviewed"]
    await clock.advance(539)
    assert receiver.types == ["applicantCreated", "applicantReviewed"]
    await clock.advance(1)
    assert receiver.types == ["applicantCreated", "applicantReviewed", "applicantPending"]
    assert receiver.times() == [start, start + 60, start + 600]
    pending_attempt = next(a for a in sumsub.webhooks.journal if a.event_type == "applicantPending")
    assert (pending_attempt.sent_at, pending_attempt.settled_at, pending_attempt.status) == (start, start + 600, 200)
    assert [r.action for r in sumsub.network.records(match="applicantPending")] == ["sent", "delayed", "arrived"]


async def test_delay_jitter_is_drawn_from_the_seed(make_fake, receiver, clock: VirtualClock) -> None:
    arrival_offsets = []
    for _ in range(2):
        receiver.received.clear()
        sumsub = make_fake(Seed(99))
        sumsub.network.delay(60, jitter=300, match="applicantCreated", count=None)
        start = clock.time()
        for n in range(3):
            sumsub.create_applicant(f"customer-{n}", LEVEL)
        await clock.advance(400)
        arrival_offsets.append([w.at - start for w in receiver.received])
    assert arrival_offsets[0] == arrival_offsets[1]
    assert all(60 <= offset <= 360 for offset in arrival_offsets[0])
    assert len(set(arrival_offsets[0])) == 3


async def test_hold_then_release_reversed(sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    sumsub.network.hold()
    lifecycle(sumsub)
    await clock.run_due()
    assert receiver.received == []
    assert [h.message.event_type for h in sumsub.network.held] == SENT_ORDER
    assert sumsub.webhooks.journal == []  # in flight: the sender has no answer yet

    await clock.advance(120)
    released = await sumsub.network.release(order="reversed")
    assert [m.event_type for m in released] == list(reversed(SENT_ORDER))
    assert receiver.types == list(reversed(SENT_ORDER))
    created_at_ms = [w.payload["createdAtMs"] for w in receiver.received]
    assert created_at_ms == sorted(created_at_ms, reverse=True)
    assert sumsub.network.held == []
    assert [a.settled_at - a.sent_at for a in sumsub.webhooks.journal] == [120] * 5
    assert len(sumsub.network.records("held")) == len(sumsub.network.records("released")) == 5

    # release retires the hold: what is sent afterwards flows
    sumsub.emit(receiver.received[0].payload["applicantId"], "applicantTagsChanged")
    await clock.run_due()
    assert receiver.types[-1] == "applicantTagsChanged"


async def release_randomly(make_fake, receiver, clock: VirtualClock, seed_value: int) -> list[str]:
    receiver.received.clear()
    sumsub = make_fake(Seed(seed_value))
    sumsub.network.hold()
    for n in range(3):
        lifecycle(sumsub, f"customer-{n}")
    await clock.run_due()
    await sumsub.network.release(order="random")
    return [w.payload["correlationId"] for w in receiver.received]


async def test_random_release_is_a_permutation_reproduced_by_the_seed(make_fake, receiver,
                                                                     clock: VirtualClock) -> None:
    first = await release_randomly(make_fake, receiver, clock, seed_value=7)
    again = await release_randomly(make_fake, receiver, clock, seed_value=7)
    assert first == again
    sumsub_sent = make_fake(Seed(7))
    for n in range(3):
        lifecycle(sumsub_sent, f"customer-{n}")
    as_sent = [e.correlation_id for e in sumsub_sent.events]
    assert sorted(first) == sorted(as_sent)
    assert first != as_sent
    other_seeds = {tuple(await release_randomly(make_fake, receiver, clock, seed_value=s)) for s in (8, 9, 10)}
    assert other_seeds - {tuple(first)}, "no other seed gave another order"


async def test_release_in_an_explicit_order_leaves_the_rest_held(sumsub: SumsubFake, receiver,
                                                                 clock: VirtualClock) -> None:
    sumsub.network.hold(match=Match(event_type=["applicantPending", "applicantReviewed"]))
    lifecycle(sumsub)
    await clock.run_due()
    assert receiver.types == ["applicantCreated"]
    await sumsub.network.release(order=[3, 1], keep_holding=True)
    assert receiver.types == ["applicantCreated", "applicantReviewed", "applicantReviewed"]
    assert [w.payload["reviewResult"]["reviewAnswer"] for w in receiver.received[1:]] == ["GREEN", "RED"]
    assert [h.message.event_type for h in sumsub.network.held] == ["applicantPending", "applicantPending"]
    with pytest.raises(ValueError, match="distinct"):
        await sumsub.network.release(order=[0, 0])


async def test_drop_loses_the_request_and_the_sender_retries(sumsub: SumsubFake, receiver,
                                                             clock: VirtualClock) -> None:
    sumsub.network.drop(match="applicantCreated")
    sumsub.create_applicant("customer-1", LEVEL)
    start = clock.time()
    await clock.run_due()
    assert receiver.received == []
    (first,) = sumsub.webhooks.journal
    assert (first.status, first.next_retry_at) == (None, start + 300)
    assert first.error is not None
    assert [r.action for r in sumsub.network.journal] == ["sent", "dropped"]

    await clock.advance(300)
    assert receiver.types == ["applicantCreated"]
    assert receiver.times() == [start + 300]
    assert [a.status for a in sumsub.webhooks.journal] == [None, 200]
    assert sumsub.webhooks.deliveries[0].state == "delivered"


async def test_lost_ack_makes_the_receiver_get_it_twice(sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    sumsub.network.lose_ack(match="applicantReviewed")
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    sumsub.review(applicant.id, "GREEN")
    start = clock.time()
    await clock.run_due()
    assert receiver.types == ["applicantCreated", "applicantReviewed"]
    reviewed_attempts = [a for a in sumsub.webhooks.journal if a.event_type == "applicantReviewed"]
    assert len(reviewed_attempts) == 1
    assert reviewed_attempts[0].status is None
    assert reviewed_attempts[0].error is not None
    assert reviewed_attempts[0].error.startswith("timeout")
    assert reviewed_attempts[0].next_retry_at == start + 300

    await clock.advance(300)
    assert receiver.types == ["applicantCreated", "applicantReviewed", "applicantReviewed"]
    original, retry = receiver.received[1:]
    assert original.body == retry.body
    assert original.headers["x-payload-digest"] == retry.headers["x-payload-digest"]
    assert (original.at, retry.at) == (start, start + 300)
    reviewed = sumsub.network.records(match="applicantReviewed")
    assert [(r.action, r.attempt, r.status) for r in reviewed] == [
        ("sent", 1, None), ("arrived", 1, 200), ("ack_lost", 1, 200), ("sent", 2, None), ("arrived", 2, 200)]
    assert [a.status for a in sumsub.webhooks.journal if a.event_type == "applicantReviewed"] == [None, 200]


async def test_match_by_applicant_and_by_predicate(sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    kept = sumsub.create_applicant("kept", LEVEL)
    lost = sumsub.create_applicant("lost", LEVEL)
    await clock.run_due()
    receiver.received.clear()
    sumsub.network.drop(match=Match(applicant_id=lost.id), count=None)
    sumsub.network.drop(match=lambda message: message.attempt == 1 and message.event_type == "applicantOnHold")
    for applicant in (kept, lost):
        sumsub.submit_documents(applicant.id)
    sumsub.put_on_hold(kept.id)
    await clock.run_due()
    assert [(w.payload["externalUserId"], w.type) for w in receiver.received] == [("kept", "applicantPending")]
    await clock.advance(300)
    assert [(w.payload["externalUserId"], w.type) for w in receiver.received][-1] == ("kept", "applicantOnHold")
    assert all(w.payload["externalUserId"] == "kept" for w in receiver.received)


async def run_lossy_world(make_fake, receiver, clock: VirtualClock, seed_value: int) -> list[tuple[float, str, str]]:
    receiver.received.clear()
    sumsub = make_fake(Seed(seed_value))
    sumsub.network.drop(probability=0.4, count=None)
    sumsub.network.duplicate(1, probability=0.3, count=None)
    for n in range(4):
        lifecycle(sumsub, f"customer-{n}")
    await clock.advance(2 * 24 * 3600)
    return [(r.at - clock.time(), r.action, r.message_id) for r in sumsub.network.journal]


async def test_the_same_seed_makes_the_same_fault_decisions(make_fake, receiver, clock: VirtualClock) -> None:
    first = await run_lossy_world(make_fake, receiver, clock, seed_value=3)
    again = await run_lossy_world(make_fake, receiver, clock, seed_value=3)
    other = await run_lossy_world(make_fake, receiver, clock, seed_value=4)
    assert first == again
    assert first != other
    actions = {action for _, action, _ in first}
    assert {"dropped", "duplicated", "arrived"} <= actions


def test_rules_refuse_nonsense(sumsub: SumsubFake) -> None:
    with pytest.raises(ValueError, match="probability"):
        sumsub.network.drop(probability=1.5)
    with pytest.raises(ValueError, match="count"):
        sumsub.network.lose_ack(count=0)
    with pytest.raises(ValueError, match="copy"):
        sumsub.network.duplicate(0)
    with pytest.raises(ValueError, match="negative"):
        sumsub.network.delay(-1)
