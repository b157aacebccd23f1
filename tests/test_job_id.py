import pytest

from cancel_job.job_id import MAX_JOB_ID_LENGTH, InvalidJobIdError, is_valid_job_id, validate_job_id

VALID = [
    "importjob1",
    "bulk-import-job-0123456789abcdef0123456789abcdef",
    "importjob-3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    "job_with_underscores",
    "a.b~c-d_e",
    "...",  # not a dot segment, and needs no encoding
    "x" * MAX_JOB_ID_LENGTH,
]
HOSTILE = [
    "",
    ".",
    "..",
    "a/b",
    "../cancel",
    "..%2Fcancel",
    "%2F",
    "a%2Fb",
    "a?b",
    "a#b",
    "a b",
    "a\r\nb",
    "a\nb",
    "a\x00b",
    "jöb",
    "job\u202e",
    "x" * (MAX_JOB_ID_LENGTH + 1),
    "a\\b",
    "a;b",
    "a&b",
    "a=b",
    "a+b",
    "a@b",
]


@pytest.mark.parametrize("job_id", VALID)
def test_valid_ids_pass_unchanged(job_id: str) -> None:
    assert validate_job_id(job_id) == job_id
    assert is_valid_job_id(job_id)


@pytest.mark.parametrize("job_id", HOSTILE)
def test_hostile_ids_are_refused(job_id: str) -> None:
    with pytest.raises(InvalidJobIdError):
        validate_job_id(job_id)


@pytest.mark.parametrize("value", [None, 5, ["a"], {"a": 1}, b"importjob1"])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidJobIdError, match="string"):
        validate_job_id(value)


def test_error_message_does_not_echo_the_id() -> None:
    with pytest.raises(InvalidJobIdError) as info:
        validate_job_id("evil\r\nX-Injected: 1")
    assert "evil" not in str(info.value)


# The limit and the messages, pinned as literals: a test that read MAX_JOB_ID_LENGTH would
# move with it (docs/testing.md).
def test_the_limit_is_128_characters() -> None:
    assert validate_job_id("x" * 128) == "x" * 128
    with pytest.raises(InvalidJobIdError) as info:
        validate_job_id("x" * 129)
    assert str(info.value) == "job id is 129 characters long; at most 128 are allowed"


def test_one_character_is_enough() -> None:
    assert validate_job_id("a") == "a" and is_valid_job_id("7") and is_valid_job_id("~")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "job id must be a string, not int"),
        (None, "job id must be a string, not NoneType"),
        ("", "job id is empty"),
        (".", "job id must not be '.' or '..'"),
        ("..", "job id must not be '.' or '..'"),
        ("a/b", "job id may contain only letters, digits and the characters . _ ~ -"),
    ],
)
def test_each_refusal_says_why(value: object, message: str) -> None:
    with pytest.raises(InvalidJobIdError) as info:
        validate_job_id(value)
    assert str(info.value) == message
    assert not is_valid_job_id(value)


@pytest.mark.parametrize("char", ["A", "Z", "a", "z", "0", "9", ".", "_", "~", "-"])
def test_every_allowed_character_alone_between_letters(char: str) -> None:
    assert validate_job_id(f"a{char}b") == f"a{char}b"
