import json
import logging
import time

import pytest
from saq.job import Job, Status

from service.customers.domain import CustomerType
from service.logging import configure_logging, log_job_outcome, render_line


def _fail_with_a_secret_in_scope() -> None:
    password = "Tmp-Secret-3141"  # noqa: F841 - the local a traceback formatter could print
    raise ConnectionError("SMTP went away")


@pytest.mark.parametrize("json", [False, True])
def test_a_logged_failure_shows_the_traceback_but_not_the_locals(json: bool,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=json)
    try:
        _fail_with_a_secret_in_scope()
    except ConnectionError:
        logging.getLogger("saq.worker").error("Error processing job", exc_info=True)  # as a job runner does
    output = capsys.readouterr().err
    assert "SMTP went away" in output
    assert "_fail_with_a_secret_in_scope" in output
    assert "Tmp-Secret-3141" not in output


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def _failed_attempt(job: Job) -> dict[str, object]:
    try:
        raise ConnectionError("SMTP 451 try again later")
    except ConnectionError as exc:
        return {"job": job, "exception": exc}


def test_a_retried_job_is_one_line_with_attempt_next_run_and_error(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    job = Job(function="send_welcome_email", kwargs={"customer_id": "customer-kw-1"}, retries=5, attempts=2,
              status=Status.QUEUED, scheduled=int(time.time()) + 30)
    log_job_outcome(_failed_attempt(job))
    [line] = _lines(capsys.readouterr().err)
    assert line["event"] == "job.retry"
    assert line["job"] == "send_welcome_email"
    assert line["attempt"] == 2
    assert line["max_attempts"] == 5
    assert line["error_type"] == "ConnectionError"
    assert line["error"] == "SMTP 451 try again later"
    assert str(line["next_run"]).startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    assert "exception" not in line  # no traceback for an attempt that will be retried
    assert "customer-kw-1" not in json.dumps(line)  # nor the job's arguments


def test_a_job_that_gives_up_logs_its_traceback_once(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    job = Job(function="send_welcome_email", retries=3, attempts=3, status=Status.FAILED)
    log_job_outcome(_failed_attempt(job))
    [line] = _lines(capsys.readouterr().err)
    assert line["event"] == "job.failed"
    assert line["level"] == "error"
    assert "Traceback" in str(line["exception"])
    assert "_failed_attempt" in str(line["exception"])


def test_a_successful_job_logs_nothing_of_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    log_job_outcome({"job": Job(function="ping", status=Status.COMPLETE)})
    assert capsys.readouterr().err == ""


def test_saqs_own_per_attempt_error_and_the_smtp_chatter_stay_out_of_info(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    try:
        raise ConnectionError("refused")
    except ConnectionError:
        logging.getLogger("saq").exception("Error processing job %s", "Job<function=send_welcome_email ...>")
    logging.getLogger("saq").info("Retrying %s", "Job<...>")
    logging.getLogger("mail.log").info("('127.0.0.1', 50000) >> b'RCPT TO:<ada@example.com>'")
    logging.getLogger("aiosmtplib").info("response: 250 OK")
    logging.getLogger("saq").warning("No active workers found for queue onboarding")
    lines = _lines(capsys.readouterr().err)
    assert [line["event"] for line in lines] == ["No active workers found for queue onboarding"]


def test_a_line_quotes_only_the_values_that_would_break_it_apart() -> None:
    line = render_line(None, "info", {"timestamp": "2026-12-04T10:00:00Z", "level": "info", "event": "request",
                                      "path": "/api/customers", "status": 200, "type": CustomerType.INDIVIDUAL,
                                      "reason": "two words", "quoted": 'say "hi"', "pair": "a=b", "lines": "a\nb",
                                      "empty": "", "none": None})
    assert line == ("2026-12-04T10:00:00Z [info] request path=/api/customers status=200 type=individual "
                    "reason='two words' quoted='say \"hi\"' pair='a=b' lines='a\\nb' empty='' none=None")
    assert render_line(None, "info", {"timestamp": "t", "level": "info", "event": "started"}) == "t [info] started"
    assert render_line(None, "error", {"timestamp": "t", "level": "error", "event": "failed",
                                       "exception": "Traceback …"}) == "t [error] failed\nTraceback …"
