"""A faithful SMTP fake: a real server that captures mail, a Mailpit-like API, seeded faults.

    async with SmtpFake(clock, seed) as smtp:
        inbox = smtp.mailbox("t1")                  # mail to anything+t1@... or ...@t1.test
        ...send to inbox.address("alice")...
        welcome = await inbox.wait_for(subject="Welcome", timeout=5)
        password = welcome.extract_password()
"""

from sim.smtp.fake import SmtpFake
from sim.smtp.faults import InjectedSmtpFault, SmtpFaultRule, SmtpFaults, Stage
from sim.smtp.message import Address, Attachment, Message, parse_message
from sim.smtp.server import SmtpLogin
from sim.smtp.store import Mailbox, MailView, MailWaitTimeout, MessageQuery, MessageStore, SearchTerm, in_mailbox

__all__ = [
    "Address",
    "Attachment",
    "InjectedSmtpFault",
    "MailView",
    "MailWaitTimeout",
    "Mailbox",
    "Message",
    "MessageQuery",
    "MessageStore",
    "SearchTerm",
    "SmtpFake",
    "SmtpFaultRule",
    "SmtpFaults",
    "SmtpLogin",
    "Stage",
    "in_mailbox",
    "parse_message",
]
