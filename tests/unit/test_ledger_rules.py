"""Ledger rules without a database: account sets per customer type, amounts, balanced postings."""

from __future__ import annotations

import uuid

import pytest

from service.customers.domain import CustomerType
from service.ledger.domain import (
    DEPOSIT_ACCOUNT_SETS,
    DEPOSIT_OMNIBUS_ACCOUNT_SET,
    MAX_AMOUNT_CENTS,
    InvalidAmount,
    Posting,
    Side,
    deposit_account_set_name,
    deposit_postings,
    is_balanced,
    validate_amount_cents,
    withdrawal_postings,
)

EXPECTED_SETS = {
    "individual": "deposit-individual-account-set",
    "government_entity": "deposit-government-entity-account-set",
    "private_company": "deposit-private-company-account-set",
    "bank": "deposit-bank-account-set",
    "financial_institution": "deposit-financial-institution-account-set",
    "foreign_agency_or_subsidiary": "deposit-foreign-agency-or-subsidiary-account-set",
    "non_domiciled_company": "deposit-non-domiciled-company-account-set",
}
CUSTOMER = uuid.UUID(int=1)
CASH = uuid.UUID(int=2)


@pytest.mark.parametrize("customer_type", list(CustomerType), ids=str)
def test_every_customer_type_has_its_own_deposit_account_set(customer_type: CustomerType) -> None:
    assert deposit_account_set_name(customer_type) == EXPECTED_SETS[customer_type.value]


def test_the_sets_are_seven_distinct_names_none_of_them_the_omnibus() -> None:
    names = set(DEPOSIT_ACCOUNT_SETS.values())
    assert len(names) == len(CustomerType) == 7
    assert DEPOSIT_OMNIBUS_ACCOUNT_SET not in names


def test_a_customer_type_given_as_its_string_value_maps_too() -> None:
    assert deposit_account_set_name("foreign_agency_or_subsidiary") == (  # type: ignore[arg-type]
        "deposit-foreign-agency-or-subsidiary-account-set")


@pytest.mark.parametrize("amount", [1, 12_500, MAX_AMOUNT_CENTS])
def test_positive_whole_cents_up_to_the_maximum_are_amounts(amount: int) -> None:
    assert validate_amount_cents(amount) == amount


@pytest.mark.parametrize(
    "amount",
    [0, -1, MAX_AMOUNT_CENTS + 1, 10**30, 1.5, 5.0, "5", True, False, None, [5]],
    ids=["zero", "negative", "just-over-max", "enormous", "fractional", "float-whole", "string", "true", "false",
         "none", "list"],
)
def test_anything_else_is_not_an_amount(amount: object) -> None:
    with pytest.raises(InvalidAmount) as refused:
        validate_amount_cents(amount)
    assert refused.value.field == "amount_cents"


def test_a_deposit_debits_cash_and_credits_the_customer() -> None:
    postings = deposit_postings(deposit_account_id=CUSTOMER, settlement_account_id=CASH, amount_cents=700)
    assert set(postings) == {Posting(CASH, Side.DEBIT, 700), Posting(CUSTOMER, Side.CREDIT, 700)}
    assert is_balanced(postings)


def test_a_withdrawal_debits_the_customer_and_credits_cash() -> None:
    postings = withdrawal_postings(deposit_account_id=CUSTOMER, settlement_account_id=CASH, amount_cents=700)
    assert set(postings) == {Posting(CUSTOMER, Side.DEBIT, 700), Posting(CASH, Side.CREDIT, 700)}
    assert is_balanced(postings)


def test_unequal_or_missing_sides_are_not_balanced() -> None:
    assert not is_balanced([Posting(CASH, Side.DEBIT, 700), Posting(CUSTOMER, Side.CREDIT, 699)])
    assert not is_balanced([Posting(CASH, Side.DEBIT, 700)])
    assert not is_balanced([])
