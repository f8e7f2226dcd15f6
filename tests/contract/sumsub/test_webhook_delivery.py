"""Webhooks as Sumsub sends them: signed, failed on anything but a timely 2xx, retried on the ladder.

Every check reads both sides: the sender's journal and what the receiving app actually got.
"""

import asyncio
import hashlib
import hmac
import socket
from datetime import UTC, datetime

import httpx
import pytest

from sim.clock import VirtualClock
from sim.seed import Seed
from sim.servers import served
from sim.sumsub import SumsubFake, scripts

LEVEL = "basic-kyc-level"
LADDER = [5 * 60, 60 * 60, 5 * 60 * 60, 18 * 60 * 60]
HASHES = {"HMAC_SHA1_HEX": hashlib.sha1, "HMAC_SHA256_HEX": hashlib.sha256, "HMAC_SHA512_HEX": hashlib.sha512}


@pytest.mark.parametrize("alg", list(HASHES))
async def test_webhooks_are_signed_with_the_configured_algorithm(make_fake, seed: Seed, receiver,
                                                                 clock: VirtualClock, alg: str) -> None:
    sumsub = make_fake(seed, webhook_alg=alg)
    sumsub.create_applicant("customer-1", LEVEL)
    await clock.run_due()
    (webhook,) = receiver.received
    assert webhook.headers["x-payload-digest-alg"] == alg
    expected = hmac.new(sumsub.webhook_secret.encode(), webhook.body, HASHES[alg]).hexdigest()
    assert webhook.headers["x-payload-digest"] == expected
    assert webhook.headers["content-type"] == "application/json"
    assert sumsub.webhooks.journal[0].headers["X-Payload-Digest"] == expected


@pytest.mark.parametrize("alg", list(HASHES))
async def test_the_algorithm_can_be_chosen_per_delivery(sumsub: SumsubFake, receiver, clock: VirtualClock,
                                                        alg: str) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    sumsub.emit(applicant.id, "applicantPending", digest_alg=alg)
    await clock.run_due()
    default, chosen = receiver.received
    assert default.headers["x-payload-digest-alg"] == "HMAC_SHA256_HEX"
    assert chosen.headers["x-payload-digest-alg"] == alg
    assert chosen.headers["x-payload-digest"] == hmac.new(sumsub.webhook_secret.encode(), chosen.body,
                                                          HASHES[alg]).hexdigest()


def test_an_unknown_algorithm_is_refused(make_fake, seed: Seed) -> None:
    with pytest.raises(ValueError, match="HMAC_SHA256_HEX"):
        make_fake(seed, webhook_alg="HMAC_MD5_HEX")


async def test_a_failing_receiver_is_retried_exactly_on_sumsubs_ladder_then_given_up(
        sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    receiver.default_status = 500
    sumsub.create_applicant("customer-1", LEVEL)
    start = clock.time()
    await clock.run_due()
    assert receiver.times() == [start]

    due = start
    for step, delay in enumerate(LADDER, start=2):
        due += delay
        await clock.advance_to(due - 1)
        assert len(receiver.received) == step - 1, f"attempt {step} came early"
        await clock.advance_to(due)
        assert len(receiver.received) == step, f"attempt {step} did not come at +{delay}s"
    await clock.advance(30 * 24 * 3600)
    assert len(receiver.received) == 5

    expected_times = [start, start + 300, start + 3900, start + 21900, start + 86700]
    assert receiver.times() == expected_times
    assert len({(w.body, w.headers["x-payload-digest"]) for w in receiver.received}) == 1  # same bytes every time
    (delivery,) = sumsub.webhooks.deliveries
    assert delivery.state == "abandoned"
    journal = sumsub.webhooks.journal
    assert [a.attempt for a in journal] == [1, 2, 3, 4, 5]
    assert [a.sent_at for a in journal] == expected_times
    assert [a.status for a in journal] == [500] * 5
    assert [a.next_retry_at for a in journal] == [*expected_times[1:], None]
    assert all(a.payload == receiver.received[0].body for a in journal)


async def test_delivery_stops_at_the_first_success(sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    receiver.answer_next(503, 500)
    sumsub.create_applicant("customer-1", LEVEL)
    await clock.advance(3 * 24 * 3600)
    assert len(receiver.received) == 3
    assert [a.status for a in sumsub.webhooks.journal] == [503, 500, 200]
    assert sumsub.webhooks.deliveries[0].state == "delivered"
    assert sumsub.webhooks.journal[-1].next_retry_at is None


@pytest.mark.parametrize("status", [302, 400, 404, 409, 500, 503])
async def test_anything_but_2xx_is_a_failure(sumsub: SumsubFake, receiver, clock: VirtualClock, status: int) -> None:
    receiver.answer_next(status)
    sumsub.create_applicant("customer-1", LEVEL)
    await clock.run_due()
    (first,) = sumsub.webhooks.journal
    assert (first.status, first.ok, first.next_retry_at) == (status, False, clock.time() + 300)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_any_2xx_is_a_success(sumsub: SumsubFake, receiver, clock: VirtualClock, status: int) -> None:
    receiver.answer_next(status)
    sumsub.create_applicant("customer-1", LEVEL)
    await clock.run_due()
    assert sumsub.webhooks.deliveries[0].state == "delivered"


async def test_no_answer_within_the_deadline_is_a_failure(make_fake, seed: Seed, receiver,
                                                          clock: VirtualClock) -> None:
    # the deadline is Sumsub's 5 s by default; shortened here so the test does not wait for it
    sumsub = make_fake(seed, webhook_timeout=0.05)
    receiver.hang_next = 1
    sumsub.create_applicant("customer-1", LEVEL)
    await clock.run_due()
    (first,) = sumsub.webhooks.journal
    assert first.status is None
    assert first.error is not None
    assert first.error.startswith("timeout")
    assert first.next_retry_at == clock.time() + 300
    sumsub.webhooks.timeout = 5.0  # the retry is answered: give it Sumsub's real deadline, not a tight one
    await clock.advance(300)
    assert len(receiver.received) == 2
    assert sumsub.webhooks.deliveries[0].state == "delivered"


async def test_an_injected_client_factory_carries_the_webhooks(make_fake, seed: Seed, receiver, new_receiver,
                                                               clock: VirtualClock) -> None:
    elsewhere = new_receiver(clock)
    made: list[httpx.AsyncClient] = []

    def client_factory() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=elsewhere.build_app())  # type: ignore[arg-type]  # Litestar's narrow types
        made.append(httpx.AsyncClient(transport=transport))
        return made[-1]

    sumsub = make_fake(seed, webhook_url="http://elsewhere.test/webhooks/sumsub", webhook_client_factory=client_factory)
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    sumsub.review(applicant.id, "GREEN")
    await clock.run_due()
    assert elsewhere.types == ["applicantCreated", "applicantReviewed"]
    assert receiver.received == []
    assert len(made) == 1  # one client for every delivery, closed with the fake


def test_the_default_deadline_is_five_seconds(sumsub: SumsubFake) -> None:
    assert sumsub.webhooks.timeout == 5.0


async def test_a_refused_connection_is_a_failure(make_fake, seed: Seed, clock: VirtualClock) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sumsub = make_fake(seed, webhook_url=f"http://127.0.0.1:{port}/webhooks/sumsub")
    sumsub.create_applicant("customer-1", LEVEL)
    await clock.run_due()
    (first,) = sumsub.webhooks.journal
    assert first.status is None
    assert first.error is not None
    assert "ConnectError" in first.error
    assert first.next_retry_at == clock.time() + 300


async def test_delivery_to_a_receiver_on_a_real_socket(make_fake, seed: Seed, receiver, clock: VirtualClock) -> None:
    async with served(receiver.build_app()) as server:
        sumsub = make_fake(seed, webhook_url=f"{server.url}/webhooks/sumsub")
        applicant = sumsub.create_applicant("customer-1", LEVEL)
        sumsub.review(applicant.id, "GREEN")
        await clock.run_due()
        await sumsub.aclose()
    assert receiver.types == ["applicantCreated", "applicantReviewed"]
    for webhook in receiver.received:
        assert webhook.headers["x-payload-digest"] == hmac.new(sumsub.webhook_secret.encode(), webhook.body,
                                                               hashlib.sha256).hexdigest()
    assert [a.status for a in sumsub.webhooks.journal] == [200, 200]


async def test_on_a_clock_following_the_wall_webhooks_leave_by_themselves(make_fake, new_receiver,
                                                                          seed: Seed) -> None:
    wall_clock = VirtualClock(datetime.now(UTC), follow_wall=True)
    wall_receiver = new_receiver(wall_clock)
    sumsub = make_fake(seed, on_clock=wall_clock, to=wall_receiver)
    wall_clock.start()
    try:
        applicant = sumsub.create_applicant("customer-1", LEVEL)
        sumsub.review(applicant.id, "GREEN")
        async with asyncio.timeout(5):
            await wall_receiver.wait_for(2)
    finally:
        await wall_clock.stop()
    assert wall_receiver.types == ["applicantCreated", "applicantReviewed"]


async def test_no_webhook_url_means_events_are_kept_but_not_sent(make_fake, seed: Seed, receiver,
                                                                 clock: VirtualClock) -> None:
    sumsub = make_fake(seed, webhook_url=None)
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    await clock.run_due()
    assert [e.type for e in sumsub.events] == ["applicantCreated"]
    assert sumsub.webhooks.deliveries == []
    sumsub.configure_webhook("http://service.test/webhooks/sumsub")
    assert sumsub.webhooks.url == "http://service.test/webhooks/sumsub"
    assert applicant.id in sumsub.applicants


async def test_reset_forgets_state_and_cancels_what_is_still_to_come(sumsub: SumsubFake, receiver,
                                                                     clock: VirtualClock) -> None:
    receiver.default_status = 500
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    await clock.run_due()
    sumsub.network.delay(60, match="applicantPending")
    sumsub.script(applicant.id, scripts.approved(review_after=600))
    await clock.run_due()
    sumsub.reset()
    await clock.advance(24 * 3600)
    assert receiver.types == ["applicantCreated"]
    assert (len(sumsub.applicants), sumsub.events, sumsub.webhooks.journal) == (0, [], [])
    sumsub.create_applicant("customer-1", LEVEL)  # no duplicate: it was forgotten
