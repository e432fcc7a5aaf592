"""Real upstream samples the fuzz tests start from and mutate: each shaped as its producer writes it.

Trivy (`pkg/types` Report, SchemaVersion 2), Grype (JSON presenter), the CISA KEV catalog, FIRST's EPSS CSV,
distribution notifications (docs/notifications.md) and Harbor webhooks (default and CloudEvents), OCI and
Docker manifests and image configs, Portainer's endpoint/stack/registry records, Docker Engine
`containers/json` and `images/json`, a Kubernetes PodList, Compose and Kubernetes stack files, and Slack's
block_actions and slash-command payloads.
"""

from __future__ import annotations

from typing import Any

D = "sha256:" + "d" * 64  # a manifest digest
C = "sha256:" + "c" * 64  # a config digest
L = "sha256:" + "a" * 64  # a layer digest
DIFF = "sha256:" + "b" * 64

TRIVY: dict[str, Any] = {
    "SchemaVersion": 2,
    "Trivy": {"Version": "0.58.1"},
    "CreatedAt": "2026-11-26T22:15:03.123456789Z",
    "ArtifactName": "registry.example.com/shop/api:1.4.0",
    "ArtifactType": "container_image",
    "Metadata": {
        "OS": {"Family": "alpine", "Name": "3.19.1"},
        "ImageID": C,
        "DiffIDs": [DIFF],
        "RepoTags": ["registry.example.com/shop/api:1.4.0"],
        "RepoDigests": [f"registry.example.com/shop/api@{D}"],
        "ImageConfig": {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [DIFF]},
        },
    },
    "Results": [
        {
            "Target": "registry.example.com/shop/api:1.4.0 (alpine 3.19.1)",
            "Class": "os-pkgs",
            "Type": "alpine",
            "Vulnerabilities": [
                {
                    "VulnerabilityID": "CVE-2026-0001",
                    "VendorIDs": ["ALPINE-2026-1"],
                    "PkgName": "libcrypto3",
                    "InstalledVersion": "3.1.4-r1",
                    "FixedVersion": "3.1.4-r5",
                    "Status": "fixed",
                    "Layer": {"Digest": L, "DiffID": DIFF},
                    "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2026-0001",
                    "Title": "openssl: out-of-bounds write",
                    "Severity": "CRITICAL",
                    "CVSS": {"nvd": {"V2Score": 10.0, "V3Score": 9.8}, "redhat": {"V40Score": 9.3}},
                }
            ],
            "ExperimentalModifiedFindings": [
                {
                    "Type": "vulnerability",
                    "Status": "ignored",
                    "Statement": "accepted",
                    "Source": ".trivyignore",
                    "Finding": {"VulnerabilityID": "CVE-2026-0002", "PkgName": "zlib"},
                }
            ],
        },
        {"Target": "app/go.mod", "Class": "lang-pkgs", "Type": "gomod", "Vulnerabilities": None},
    ],
}

GRYPE: dict[str, Any] = {
    "matches": [
        {
            "vulnerability": {
                "id": "GHSA-aaaa-bbbb-cccc",
                "severity": "Critical",
                "description": "stdlib: bad",
                "urls": ["https://github.com/advisories/GHSA-aaaa-bbbb-cccc"],
                "cvss": [{"version": "3.1", "metrics": {"baseScore": 9.1}}],
                "fix": {"versions": ["1.21.8"], "state": "fixed"},
                "knownExploited": [{"cve": "CVE-2026-0009", "knownRansomwareCampaignUse": "Known"}],
                "epss": [{"cve": "CVE-2026-0009", "epss": 0.42, "percentile": 0.97, "date": "2026-11-25"}],
                "risk": 12.5,
            },
            "relatedVulnerabilities": [
                {"id": "CVE-2026-0009", "cvss": [{"version": "3.1", "metrics": {"baseScore": 9.1}}]}
            ],
            "artifact": {
                "name": "stdlib",
                "version": "go1.21.0",
                "type": "go-module",
                "locations": [{"path": "/app/run", "layerID": DIFF}],
            },
        }
    ],
    "ignoredMatches": [{"vulnerability": {"id": "CVE-2020-1"}}],
    "source": {
        "type": "image",
        "target": {
            "userInput": "registry.example.com/shop/api:1.4.0",
            "imageID": C,
            "manifestDigest": D,
            "tags": ["registry.example.com/shop/api:1.4.0"],
            "repoDigests": [f"registry.example.com/shop/api@{D}"],
            "architecture": "amd64",
            "os": "linux",
        },
    },
    "descriptor": {"name": "grype", "version": "0.87.0", "timestamp": "2026-11-26T23:00:01.5+01:00"},
}

KEV: dict[str, Any] = {
    "title": "CISA Catalog of Known Exploited Vulnerabilities",
    "catalogVersion": "2026.11.25",
    "dateReleased": "2026-11-25T15:02:11.0000Z",
    "count": 1,
    "vulnerabilities": [
        {
            "cveID": "CVE-2021-44228",
            "vendorProject": "Apache",
            "product": "Log4j2",
            "vulnerabilityName": "Apache Log4j2 Remote Code Execution Vulnerability",
            "dateAdded": "2021-12-10",
            "shortDescription": "JNDI features do not protect against attacker-controlled LDAP endpoints.",
            "requiredAction": "Apply updates per vendor instructions.",
            "dueDate": "2021-12-24",
            "knownRansomwareCampaignUse": "Known",
            "notes": "https://nvd.nist.gov/vuln/detail/CVE-2021-44228",
            "cwes": ["CWE-20", "CWE-400", "CWE-502"],
        }
    ],
}

EPSS = (
    "#model_version:v2025.03.14,score_date:2026-11-26T00:00:00+0000\n"
    "cve,epss,percentile\n"
    "CVE-1999-0001,0.01025,0.76589\n"
    "CVE-2021-44228,0.94358,0.99957\n"
    "CVE-2026-0001,0.00042,0.10512\n"
)

DISTRIBUTION: dict[str, Any] = {
    "events": [
        {
            "id": "asdf-asdf-asdf-asdf-0",
            "timestamp": "2006-01-02T15:04:05Z",
            "action": "push",
            "target": {
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "size": 708,
                "digest": D,
                "length": 708,
                "repository": "library/test",
                "url": f"https://example.com/v2/library/test/manifests/{D}",
                "tag": "latest",
            },
            "request": {
                "id": "asdfasdf",
                "addr": "10.0.0.5:41234",
                "host": "registrycluster.local",
                "method": "PUT",
                "useragent": "docker/24.0.7 go/go1.20.10",
            },
            "actor": {"name": "test-actor"},
            "source": {"addr": "hostname.local:port", "instanceID": "instance-1"},
        },
        {
            "id": "asdf-asdf-asdf-asdf-1",
            "timestamp": "2006-01-02T15:04:05.123456789-08:00",
            "action": "pull",
            "target": {
                "mediaType": "application/octet-stream",
                "size": 2,
                "digest": L,
                "repository": "library/test",
                "url": f"https://example.com/v2/library/test/blobs/{L}",
            },
            "request": {"addr": "[::1]:5000", "host": "registrycluster.local", "method": "GET"},
        },
    ]
}

HARBOR: dict[str, Any] = {
    "type": "PUSH_ARTIFACT",
    "occur_at": 1680502376,
    "operator": "admin",
    "event_data": {
        "resources": [
            {
                "digest": "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4",
                "tag": "latest",
                "resource_url": "harbor.example.com/library/alpine:latest",
            }
        ],
        "repository": {
            "date_created": 1680501893,
            "name": "alpine",
            "namespace": "library",
            "repo_full_name": "library/alpine",
            "repo_type": "public",
        },
    },
}

HARBOR_CLOUDEVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "4b3f7a1e-0f8a-4b7e-9c67-2b6c6b5f0a11",
    "source": "/projects/1/webhook/policies/1",
    "type": "harbor.artifact.pulled",
    "datacontenttype": "application/json",
    "time": "2023-04-03T06:23:41Z",
    "operator": "robot$ci",
    "data": HARBOR["event_data"],
}

OCI_MANIFEST: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": C, "size": 1470},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": L, "size": 3370706}],
    "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
    "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D, "size": 10},
}

OCI_INDEX: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": D,
            "size": 1024,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        }
    ],
}

IMAGE_CONFIG: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2026-01-01T12:34:56.123456789Z",
    "config": {"Labels": {"org.opencontainers.image.source": "https://github.com/x/y", "n": 1}},
    "rootfs": {"type": "layers", "diff_ids": [DIFF]},
}

PORTAINER_ENDPOINTS: list[dict[str, Any]] = [
    {
        "Id": 1,
        "Name": "prod-eu",
        "Type": 2,
        "URL": "tcp://10.0.0.2:9001",
        "Status": 1,
        "ContainerEngine": "docker",
    },
    {"Id": 3, "Name": "k8s", "Type": 6, "URL": "https://10.0.0.3:9443", "Status": 2},
    {"Id": 4, "Name": "aci", "Type": 3, "URL": "", "Status": 1},
]

PORTAINER_STACK: dict[str, Any] = {
    "Id": 7,
    "Name": "shop",
    "Type": 2,
    "EndpointId": 1,
    "SwarmId": "",
    "Status": 1,
    "Env": [{"name": "TAG", "value": "1.4.0"}],
}

PORTAINER_REGISTRY: dict[str, Any] = {
    "Id": 2,
    "Name": "harbor",
    "Type": 3,
    "URL": "harbor.example.com",
    "BaseURL": "",
    "Authentication": True,
    "Password": "never-parsed",
    "Ecr": {"Region": ""},
}

SERVICE: dict[str, Any] = {
    "ID": "abcdef123456",
    "Spec": {
        "Name": "shop_api",
        "TaskTemplate": {"ContainerSpec": {"Image": f"registry.example.com/shop/api:1.4.0@{D}"}},
    },
}

CONTAINERS: list[dict[str, Any]] = [
    {
        "Id": "8dfafdbc3a40" + "0" * 52,
        "Names": ["/shop-api-1"],
        "Image": "registry.example.com/shop/api:1.4.0",
        "ImageID": C,
        "State": "running",
        "Labels": {"com.docker.compose.project": "shop"},
    }
]

IMAGES: list[dict[str, Any]] = [
    {
        "Id": C,
        "RepoTags": ["registry.example.com/shop/api:1.4.0"],
        "RepoDigests": [f"registry.example.com/shop/api@{D}"],
    }
]

POD_LIST: dict[str, Any] = {
    "kind": "PodList",
    "apiVersion": "v1",
    "items": [
        {
            "metadata": {"name": "api-7d9f", "namespace": "shop"},
            "spec": {
                "containers": [{"name": "api", "image": "registry.example.com/shop/api:1.4.0"}],
                "initContainers": [{"name": "migrate", "image": "registry.example.com/shop/migrate:1"}],
            },
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "api",
                        "image": "registry.example.com/shop/api:1.4.0",
                        "imageID": f"registry.example.com/shop/api@{D}",
                    }
                ],
                "initContainerStatuses": None,
            },
        }
    ],
}

COMPOSE: dict[str, Any] = {
    "services": {
        "api": {"image": "registry.example.com/shop/api:${TAG:-latest}", "ports": ["8080:80"]},
        "db": {"image": f"postgres:16@{D}"},
        "worker": {"build": "."},
    }
}

KUBERNETES: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api"},
    "spec": {
        "template": {
            "spec": {
                "containers": [{"name": "api", "image": "registry.example.com/shop/api:1.4.0"}],
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
            }
        }
    },
}

BLOCK_ACTIONS: dict[str, Any] = {
    "type": "block_actions",
    "user": {"id": "U0123", "username": "alice", "team_id": "T0123"},
    "team": {"id": "T0123", "domain": "acme"},
    "container": {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C0123",
        "is_ephemeral": False,
    },
    "channel": {"id": "C0123", "name": "registry"},
    "actions": [
        {
            "action_id": "regent_approve",
            "block_id": "decide",
            "value": "p-2b6c6b5f",
            "type": "button",
            "action_ts": "1700000001.000200",
        }
    ],
}

SLASH_COMMAND: dict[str, Any] = {
    "token": "deprecated",
    "team_id": "T0123",
    "channel_id": "C0123",
    "user_id": "U0123",
    "command": "/regent",
    "text": "image shop/api:1.4.0",
    "response_url": "https://hooks.slack.com/commands/T0123/1/abc",
    "trigger_id": "1.2.3",
}
