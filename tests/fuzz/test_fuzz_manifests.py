"""Registry documents: manifests, indexes and image configs as the crawl reads them (bytes → JSON object →
Manifest → config facts), catalog `Link` headers, error bodies and image references. A RegentError
(BadResponse, ImageReferenceError) or a manifest whose every digest and size is one a registry can have."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.samples import IMAGE_CONFIG, OCI_INDEX, OCI_MANIFEST
from tests.fuzz.strategies import HOSTILE_STRINGS, bodies, fuzz_settings
from tools.analysis.clocks import as_utc
from tools.analysis.usage import parse_reference as parse_usage_reference
from tools.errors import ImageReferenceError, RegentError
from tools.inventory.parse import MAX_BLOB_SIZE, parse_manifest, parse_time, with_config
from tools.registry.reference import is_sha256_digest, parse_reference
from tools.registry.wire import Answer, error_code, media_type_from_body, next_link_query, parse_json_object

DIGEST = "sha256:" + "d" * 64
WEST = ZoneInfo("America/Los_Angeles")


@fuzz_settings(300)
@given(
    manifest=bodies(OCI_MANIFEST, OCI_INDEX),
    config=bodies(IMAGE_CONFIG),
    header=st.sampled_from(HOSTILE_STRINGS),
)
def test_manifests_and_configs_parse_or_are_refused(manifest: bytes, config: bytes, header: str) -> None:
    try:
        media_type = media_type_from_body(manifest, fallback=header)
        parsed = parse_manifest(
            DIGEST, media_type, len(manifest), parse_json_object(manifest, what="manifest")
        )
        if parsed.config is not None:
            parsed = with_config(parsed, parse_json_object(config, what="config"))
    except RegentError as exc:
        assert 0 < len(str(exc)) < 500
        return
    for descriptor in (*parsed.children, *parsed.layers, *((parsed.config,) if parsed.config else ())):
        assert is_sha256_digest(descriptor.digest) and 0 <= descriptor.size <= MAX_BLOB_SIZE
    assert DIGEST not in {child.digest for child in parsed.children}
    if parsed.created is not None:  # every clock and the digest's time zones convert it without overflow
        assert as_utc(parsed.created).astimezone(WEST).year >= 1969
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.labels.items())


@fuzz_settings(200)
@given(value=st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40), st.integers(), st.none()))
def test_config_times_are_a_utc_time_or_unknown(value: object) -> None:
    moment = parse_time(value)
    assert moment is None or (
        moment.tzinfo == UTC and moment.astimezone(WEST) < datetime(9999, 1, 1, tzinfo=UTC)
    )


references = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=60),
    st.from_regex(
        r"([a-z0-9.:-]{1,20}/)?[a-z0-9/._-]{1,30}(:[A-Za-z0-9._-]{1,20})?(@[a-z0-9]+:[0-9a-f]{0,70})?"
    ),
)


@fuzz_settings(300)
@given(text=references)
def test_image_references_parse_or_are_refused(text: str) -> None:
    try:
        ref = parse_reference(text)
    except ImageReferenceError:
        pass
    else:
        assert ref.repository and "\n" not in str(ref)
    usage = parse_usage_reference(text)  # the analysis side never refuses: it only compares names
    assert isinstance(usage.repository, str)


@fuzz_settings(200)
@given(
    body=bodies({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {}}]}),
    link=st.one_of(
        st.sampled_from(HOSTILE_STRINGS),
        st.text(max_size=80),
        st.just('</v2/_catalog?last=a&n=2>; rel="next"'),
    ),
    method=st.sampled_from(("GET", "HEAD", "DELETE")),
)
def test_error_bodies_and_link_headers_never_raise(body: bytes, link: str, method: str) -> None:
    code = error_code(Answer(method, 404, {}, body))
    assert len(code) <= 210
    query = next_link_query(link)
    assert query is None or all(isinstance(k, str) and isinstance(v, str) for k, v in query.items())
