"""Portainer, Docker Engine and Kubernetes JSON, and the stack files Portainer stores (Compose, Kubernetes
YAML): a BadResponse naming the field (never its value), or deployments with plain-text fields.

Portainer's and Docker's answers go through their clients over an in-memory transport, so the JSON
decoding at the client is fuzzed too, not only the models behind it.
"""

from __future__ import annotations

from typing import Any

import httpx
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.samples import (
    COMPOSE,
    CONTAINERS,
    IMAGES,
    KUBERNETES,
    POD_LIST,
    PORTAINER_ENDPOINTS,
    PORTAINER_REGISTRY,
    PORTAINER_STACK,
    SERVICE,
)
from tests.fuzz.strategies import HOSTILE_STRINGS, bodies, fuzz_settings, json_values, mutated
from tools.docker.client import DockerClient
from tools.docker.deployments import container_deployments
from tools.errors import BadResponse, RegentError
from tools.inventory.models import Deployment, Environment
from tools.portainer.client import PortainerClient
from tools.portainer.environments import (
    interpolate,
    pod_deployments,
    registry_source,
    service_deployments,
    stack_deployments,
    to_environment,
)
from tools.portainer.models import Endpoint, PodList, Registry, Service, Stack, parse_as

ENV = Environment(id=1, name="prod-eu", kind="docker", url="tcp://10.0.0.2:9001", status="up")
SECRET_VALUE = "never-parsed"


def _served(body: bytes) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)))


def _check(deployments: list[Deployment]) -> None:
    for deployment in deployments:
        assert isinstance(deployment.image, str) and isinstance(deployment.name, str)
        assert deployment.digest is None or deployment.digest.startswith("sha256:")


@fuzz_settings(150)
@given(body=bodies(PORTAINER_ENDPOINTS))
def test_portainer_environment_lists_parse_or_are_refused(body: bytes) -> None:
    client = PortainerClient("https://portainer.example", api_key="ptr_fuzz", http=_served(body), attempts=1)
    try:
        environments = client.environments()
    except RegentError as exc:
        assert "ptr_fuzz" not in str(exc) and len(str(exc)) < 500
        return
    assert all(env.kind in ("docker", "kubernetes", "podman") for env in environments)


@fuzz_settings(150)
@given(containers=bodies(CONTAINERS), images=bodies(IMAGES))
def test_docker_containers_and_images_parse_or_are_refused(containers: bytes, images: bytes) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=containers if "containers" in request.url.path else images)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    client = DockerClient("tcp://docker.example:2375", http=http, base_url="http://docker/v1.41")
    try:
        found = container_deployments(ENV, client.containers(), client.images())
    except RegentError as exc:
        assert len(str(exc)) < 500
        return
    _check(found)


shapes: list[tuple[Any, Any]] = [
    (list[Endpoint], PORTAINER_ENDPOINTS),
    (Registry, PORTAINER_REGISTRY),
    (Stack, PORTAINER_STACK),
    (list[Service], [SERVICE]),
    (PodList, POD_LIST),
]


@fuzz_settings(250)
@given(
    case=st.sampled_from(range(len(shapes))).flatmap(lambda i: st.tuples(st.just(i), mutated(shapes[i][1])))
)
def test_portainer_models_and_conversions_never_raise_anything_else(case: tuple[int, Any]) -> None:
    index, document = case
    shape = shapes[index][0]
    try:
        parsed = parse_as(shape, document, "fuzz")
    except BadResponse as exc:
        assert SECRET_VALUE not in str(exc)  # field names only, never values
        return
    if isinstance(parsed, PodList):
        _check(pod_deployments(ENV, parsed.items))
    elif isinstance(parsed, Registry):
        source = registry_source(parsed, portainer_url="https://portainer.example", proxied=False)
        assert SECRET_VALUE not in repr(source)
    elif isinstance(parsed, list) and parsed and isinstance(parsed[0], Service):
        _check(service_deployments(ENV, parsed))
    elif isinstance(parsed, list):
        assert all(to_environment(endpoint) is None or to_environment(endpoint) for endpoint in parsed)


def _yaml(document: Any) -> str:
    try:
        return yaml.safe_dump_all(document if isinstance(document, list) else [document])
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return str(document)


stack_files = st.one_of(
    mutated(COMPOSE).map(_yaml),
    mutated(KUBERNETES).map(_yaml),
    json_values.map(_yaml),
    st.text(max_size=200),
    st.sampled_from(
        (
            "a: &a [*a]\n",  # a self-referencing alias
            "a: &a ['x','x','x']\nb: &b [*a,*a,*a]\nc: &c [*b,*b,*b]\nd: &d [*c,*c,*c]\ne: [*d,*d,*d,*d]\n",
            "services: {api: {image: !!python/object/apply:os.system ['true']}}\n",
            "services:\n  api:\n    image: x\n" * 3,
            "--- !!binary AAAA\n",
            "\t- tab\n",
            "? [a]\n: b\n",
            "[" * 5000,
            "services: {api: {image: '${A:-${B}}$${C}'}}\n",
        )
    ),
)


@fuzz_settings(150)  # the alias bombs walk up to 100,000 nodes each
@given(
    content=stack_files,
    kind=st.sampled_from((1, 2, 3)),
    variables=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
def test_stack_files_give_images_or_a_bad_response(
    content: str, kind: int, variables: dict[str, str]
) -> None:
    stack = Stack.model_validate(
        {"Id": 1, "Name": "s", "Type": kind, "Env": [{"name": k, "value": v} for k, v in variables.items()]}
    )
    try:
        found = stack_deployments(ENV, stack, content)
    except BadResponse as exc:
        assert len(str(exc)) < 300
        return
    _check(found)


@fuzz_settings(200)
@given(
    text=st.one_of(st.text(max_size=60), st.sampled_from(HOSTILE_STRINGS)),
    variables=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4),
)
def test_compose_interpolation_is_total(text: str, variables: dict[str, str]) -> None:
    assert isinstance(interpolate(text, variables), str)
