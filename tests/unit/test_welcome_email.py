"""The welcome email as composed: multipart/alternative, text and HTML, with the credentials in both,
and a boundary of its own that neither part holds (so flattening it needs no search of the text)."""

from __future__ import annotations

from email import message_from_bytes, policy

from service.provisioning.welcome_email import compose_welcome_email


def test_the_email_has_its_own_boundary_and_both_parts_read_back() -> None:
    message = compose_welcome_email(sender="no-reply@bank.example", to="ada@example.com", username="ada@example.com",
                                    password="Xy7kQ2pLm9", portal_url="https://bank.example/portal")
    boundary = message.get_boundary()
    assert boundary is not None
    assert boundary != compose_welcome_email(sender="no-reply@bank.example", to="ada@example.com",
                                             username="ada@example.com", password="Xy7kQ2pLm9",
                                             portal_url="https://bank.example/portal").get_boundary()
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_boundary() == boundary
    plain, html = (part.get_content() for part in parsed.iter_parts())  # type: ignore[attr-defined]
    assert boundary not in plain + html
    assert "Temporary password: Xy7kQ2pLm9" in plain
    assert "<code>Xy7kQ2pLm9</code>" in html
    assert (parsed["To"], parsed["From"]) == ("ada@example.com", "no-reply@bank.example")


def test_a_message_in_another_script_takes_the_other_builder_and_reads_back_the_same() -> None:
    message = compose_welcome_email(sender="no-reply@bank.example", to="zoë@example.com", username="zoë@example.com",
                                    password="Xy7kQ2pLm9", portal_url="https://bank.example/portal")
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    plain, html = (part.get_content() for part in parsed.iter_parts())  # type: ignore[attr-defined]
    assert "<b>zoë@example.com</b>" in html
    assert "Username: zoë@example.com" in plain
    assert "Temporary password: Xy7kQ2pLm9" in plain
