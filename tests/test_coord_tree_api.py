"""The data tree's public surface matches kazoo 2.11 and ZooKeeper 3.8 where a program can see it:
exception classes and codes, ZnodeStat, the client's path normalisation and argument checks, the
server's path rules, and the request size a server accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zablib.coord import errors, paths
from zablib.coord.tree import ZnodeStat
from zablib.coord.txn import (
    JUTE_MAXBUFFER,
    CheckRequest,
    CreateRequest,
    DeleteRequest,
    MultiRequest,
    SetDataRequest,
    SyncRequest,
    check_value,
    check_version,
    packet_length,
)

kazoo_exceptions = pytest.importorskip("kazoo.exceptions")


# -- exceptions --------------------------------------------------------------------------------
def kazoo_classes() -> dict[str, type]:
    return {name: value for name, value in vars(kazoo_exceptions).items()
            if isinstance(value, type) and issubclass(value, Exception)
            and value.__module__ == "kazoo.exceptions"}


def test_every_kazoo_exception_exists_with_its_name_code_and_bases():
    for name, theirs in kazoo_classes().items():
        ours = getattr(errors, name, None)
        assert ours is not None, f"zablib.coord.errors lacks kazoo's {name}"
        assert ours.__name__ == theirs.__name__  # aliases point at the same class, as in kazoo
        def bases(klass):
            return [base.__name__ for base in klass.__mro__[:-2]]  # up to Exception

        assert bases(ours) == bases(theirs)
        assert getattr(ours, "code", None) == getattr(theirs, "code", None), name


def test_the_code_table_is_kazoos():
    theirs = {code: klass.__name__ for code, klass in kazoo_exceptions.EXCEPTIONS.items()}
    assert {code: klass.__name__ for code, klass in errors.EXCEPTIONS.items()} == theirs
    assert isinstance(errors.error_for_code(-101, "/a"), errors.NoNodeError)
    assert str(errors.error_for_code(-101, "/a")) == "/a" and str(errors.error_for_code(-110)) == ""
    with pytest.raises(ValueError, match="unknown ZooKeeper error code 42"):
        errors.error_for_code(42)


def test_a_program_catching_kazoos_bases_catches_ours():
    with pytest.raises(errors.ZookeeperError):
        raise errors.NoNodeError("/a")
    with pytest.raises(errors.SessionExpiredError):
        raise errors.ConnectionClosedError("closed")
    assert errors.ConnectionClosedError.code == errors.SessionExpiredError.code == -112
    assert issubclass(errors.ZookeeperError, errors.KazooException)


# -- ZnodeStat ---------------------------------------------------------------------------------
def test_znodestat_has_kazoos_fields_and_properties():
    states = pytest.importorskip("kazoo.protocol.states")
    values = (11, 12, 1500, 2500, 3, 4, 5, 0x77, 6, 7, 13)
    ours, theirs = ZnodeStat(*values), states.ZnodeStat(*values)
    assert ours._fields == theirs._fields and tuple(ours) == tuple(theirs)
    properties = [name for name, value in vars(states.ZnodeStat).items() if isinstance(value, property)]
    assert len(properties) == 9
    for name in properties:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ZnodeStat(*values[:7], 0, *values[8:]).owner_session_id is None


# -- the client's normalisation and the server's path rules --------------------------------------
kazoo_paths = pytest.importorskip("kazoo.protocol.paths")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="/a.b\x01", max_size=12), st.booleans())
def test_normalize_is_what_kazoo_sends(path, trailing):
    try:
        expected = kazoo_paths._prefix_root("", path, trailing=trailing)
    except ValueError as error:
        with pytest.raises(ValueError, match=str(error)):
            paths.normalize(path, trailing)
    else:
        assert paths.normalize(path, trailing) == expected


VALID = ["/", "/a", "/a/b", "/a.b", "/.a", "/a.", "/...", "/a..", "/zookeeper", "/a b", "/\ud7ff", "/\uf900",
         "/\ufeff", "/" + "x" * 300, "/é/ü", "/a-0000000001"]
INVALID = {
    "": "empty", "a": "start with '/'", "a/b": "start with '/'", "/a/": "not end with '/'",
    "//": "not end with '/'", "/a//b": "empty node name", "/.": "relative", "/..": "relative",
    "/a/./b": "relative", "/a/../b": "relative", "/a\x00": "null character", "/a\x01": "invalid character",
    "/\x1f": "invalid character", "/\x7f": "invalid character", "/\x9f": "invalid character",
    "/\ud800": "invalid character", "/\ue000": "invalid character", "/\uf8ff": "invalid character",
    "/\ufff0": "invalid character", "/\uffff": "invalid character", "/\U0001f600": "invalid character",
}


@pytest.mark.parametrize("path", VALID)
def test_a_valid_path_passes_the_servers_rules(path):
    assert paths.validate_path(path) == path and paths.path_problem(path) is None


@pytest.mark.parametrize(("path", "reason"), INVALID.items())
def test_an_invalid_path_is_refused_with_the_broken_rule_named(path, reason):
    with pytest.raises(paths.InvalidPathError, match=reason) as caught:
        paths.validate_path(path)
    assert isinstance(caught.value, ValueError)


def test_a_sequential_prefix_is_checked_with_its_counter():
    assert paths.validate_path("/queue/", sequential=True) == "/queue/"
    assert paths.validate_path("/", sequential=True) == "/"
    with pytest.raises(paths.InvalidPathError):
        paths.validate_path("/queue//", sequential=True)
    assert paths.sequential_path("/q/n-", 42) == "/q/n-0000000042"
    assert paths.sequential_path("/q/n-", -5) == "/q/n--000000005"  # Java's %010d after overflow


def test_path_helpers():
    assert [paths.parent(p) for p in ("/", "/a", "/a/b")] == ["/", "/", "/a"]
    assert [paths.basename(p) for p in ("/", "/a", "/a/b")] == ["", "a", "b"]
    assert paths.join("/", "a") == "/a" and paths.join("/a", "b") == "/a/b"
    with pytest.raises(TypeError, match="'path' .string expected"):
        paths.validate_path(b"/a")


# -- the client's argument checks ----------------------------------------------------------------
@pytest.mark.parametrize(("make", "message"), [
    (lambda: CreateRequest("/a", "text"), "'value' .must be a byte string"),
    (lambda: CreateRequest(b"/a"), "'path' .string expected"),
    (lambda: CreateRequest("/a", ephemeral=1), "'ephemeral' .bool expected"),
    (lambda: CreateRequest("/a", sequential="yes"), "'sequential' .bool expected"),
    (lambda: DeleteRequest("/a", "1"), "'version' .int expected"),
    (lambda: SetDataRequest("/a", 5), "'value' .must be a byte string"),
    (lambda: SetDataRequest("/a", b"", 1.0), "'version' .int expected"),
    (lambda: CheckRequest("/a", None), "'version' .int expected"),
    (lambda: SyncRequest(None), "'path' .string expected"),
    (lambda: MultiRequest([SyncRequest("/")]), "a multi holds"),
])
def test_bad_arguments_get_a_type_error_naming_the_argument(make, message):
    with pytest.raises(TypeError, match=message):
        make()


def test_the_checks_accept_what_kazoo_accepts():
    check_value(None)
    check_value(b"")
    check_version(-7)  # kazoo sends it; the server answers BadVersionError
    with pytest.raises(TypeError):
        check_value(None, allow_none=False)
    assert MultiRequest([CreateRequest("/a")]).ops == (CreateRequest("/a"),)
    assert hash(MultiRequest([CreateRequest("/a", b"x")])) == hash(MultiRequest((CreateRequest("/a", b"x"),)))


# -- request size -----------------------------------------------------------------------------
serialization = pytest.importorskip("kazoo.protocol.serialization")
security = pytest.importorskip("kazoo.security")


def kazoo_length(request) -> int:
    """What kazoo's connection announces: xid + type + the serialised request."""
    return 8 + len(request.serialize())


def to_kazoo(request):
    if isinstance(request, CreateRequest):
        flags = int(request.ephemeral) | 2 * int(request.sequential)
        return serialization.Create(request.path, request.data, security.OPEN_ACL_UNSAFE, flags)
    if isinstance(request, DeleteRequest):
        return serialization.Delete(request.path, request.version)
    if isinstance(request, SetDataRequest):
        return serialization.SetData(request.path, request.data, request.version)
    if isinstance(request, CheckRequest):
        return serialization.CheckVersion(request.path, request.version)
    return serialization.Transaction([to_kazoo(op) for op in request.ops])


ops = st.one_of(
    st.builds(CreateRequest, st.text(min_size=1, max_size=8), st.one_of(st.none(), st.binary(max_size=20)),
              st.booleans(), st.booleans()),
    st.builds(DeleteRequest, st.text(min_size=1, max_size=8), st.integers(-3, 5)),
    st.builds(SetDataRequest, st.text(min_size=1, max_size=8), st.one_of(st.none(), st.binary(max_size=20)),
              st.integers(-3, 5)),
    st.builds(CheckRequest, st.text(min_size=1, max_size=8), st.integers(-3, 5)),
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(ops.filter(lambda op: not isinstance(op, CheckRequest)),
                 st.builds(MultiRequest, st.lists(ops, max_size=4))))
def test_packet_length_is_what_kazoo_sends(request):
    assert packet_length(request) == kazoo_length(to_kazoo(request))


def test_the_largest_create_fits_and_one_byte_more_does_not():
    path = "/big"
    biggest = CreateRequest(path, b"x" * (JUTE_MAXBUFFER - 47 - len(path)))
    assert packet_length(biggest) == JUTE_MAXBUFFER
    assert packet_length(SetDataRequest(path, b"x" * (JUTE_MAXBUFFER - 20 - len(path)))) == JUTE_MAXBUFFER
