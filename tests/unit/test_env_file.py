"""The env file a running stack holds: a second stack never overwrites it, and a dead one never
keeps it."""

from pathlib import Path

from service.settings import read_dotenv
from sim.env_file import held_env_file


def test_a_held_env_file_sends_the_next_stack_to_a_file_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    with (held_env_file(path, "first", {"SANDBOX_NAME": "first"}) as first,
          held_env_file(path, "second", {"SANDBOX_NAME": "second"}) as second):
        assert first == path
        assert second == tmp_path / "stack.second.env"
        assert read_dotenv(path) == {"SANDBOX_NAME": "first"}
        assert read_dotenv(second) == {"SANDBOX_NAME": "second"}
        assert oct(second.stat().st_mode & 0o777) == "0o600"
    with held_env_file(path, "third", {"SANDBOX_NAME": "third"}) as third:
        assert third == path  # released when its stack stopped
        assert read_dotenv(path) == {"SANDBOX_NAME": "third"}  # rewritten, nothing of the first left
