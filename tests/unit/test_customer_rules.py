import pytest

from service.customers.domain import (
    CustomerType,
    InvalidCustomerField,
    is_public_id,
    kyc_level_name,
    normalize_email,
    normalize_telegram_id,
)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("  ada.lovelace+kyc@mail.example.org ", "ada.lovelace+kyc@mail.example.org"),
        ("o'brien@example.ie", "o'brien@example.ie"),
    ],
)
def test_valid_emails_are_stored_lower_cased(raw: str, stored: str) -> None:
    assert normalize_email(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "", "ada", "ada@", "@example.com", "ada@example", "ada@@example.com", "ada @example.com",
        "ada@exa mple.com", "ada..l@example.com", ".ada@example.com", "ada.@example.com", "ada@-example.com",
        "ada@example.com'; DROP TABLE customers; --", "ada@exa\nmple.com", "ada\x00@example.com",
        "a" * 65 + "@example.com",
        "ada@" + "a" * 250 + ".com",
    ],
)
def test_invalid_emails_are_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidCustomerField) as refused:
        normalize_email(raw)
    assert refused.value.field == "email"


def test_telegram_usernames_have_one_spelling_and_ids_stay_numeric() -> None:
    assert normalize_telegram_id("@Ada_Lovelace") == "ada_lovelace"
    assert normalize_telegram_id("Ada_Lovelace") == "ada_lovelace"
    assert normalize_telegram_id(" ADA_LOVELACE ") == "ada_lovelace"
    assert normalize_telegram_id("123456789") == "123456789"
    assert normalize_telegram_id("000123456789") == "123456789"
    assert normalize_telegram_id(None) is None


@pytest.mark.parametrize("raw", ["@ab", "@has space", "1" * 21, "@" + "a" * 40, "-12", "@_under", "ada!"])
def test_invalid_telegram_ids_are_refused(raw: str) -> None:
    with pytest.raises(InvalidCustomerField) as refused:
        normalize_telegram_id(raw)
    assert refused.value.field == "telegram_id"


def test_only_individuals_go_through_kyc_every_other_type_through_kyb() -> None:
    levels = {t: kyc_level_name(t, kyc_level="kyc", kyb_level="kyb") for t in CustomerType}
    assert levels.pop(CustomerType.INDIVIDUAL) == "kyc"
    assert set(levels.values()) == {"kyb"}
    assert len(levels) == 6


def test_public_ids_look_like_c_and_digits() -> None:
    assert is_public_id("C1000")
    assert is_public_id("c1000")
    assert not is_public_id("1000")
    assert not is_public_id("C10")
    assert not is_public_id("C1000%")
