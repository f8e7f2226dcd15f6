import logging

import pytest

from service.logging import configure_logging


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
