"""Environment JSON of the fake Portainer: an `endpoints.endpointResponse` as `GET /api/endpoints` answers it.

Field names follow the EE 2.44 spec (checked by tests/integration/test_fake_portainer_schema.py); what a
non-administrator sees follows http/handler/endpoints/endpoint_list.go (CE 2.23).
"""

from __future__ import annotations

import time

from tests.fakes.portainer_records import FakeEnvironment, Json


def _docker_snapshot(env: FakeEnvironment) -> Json:
    counts = dict.fromkeys(
        [
            "ContainerCount",
            "RunningContainerCount",
            "StoppedContainerCount",
            "HealthyContainerCount",
            "UnhealthyContainerCount",
            "ImageCount",
            "VolumeCount",
            "StackCount",
            "NodeCount",
            "TotalMemory",
        ],
        0,
    )
    return counts | {
        "Time": int(time.time()),
        "DockerVersion": "20.10.24",
        "Swarm": env.services is not None,
        "ServiceCount": len(env.services or []),
        "TotalCPU": 2,
        "GpuUseAll": False,
        "GpuUseList": [],
        "IsPodman": env.container_engine == "podman",
        "DockerSnapshotRaw": {"Containers": [], "Images": [], "Volumes": {}, "Networks": [], "Info": {}},
    }


def _kubernetes_json(env: FakeEnvironment, *, snapshots: bool) -> Json:
    snapshot = {"Time": int(time.time()), "KubernetesVersion": "v1.31.2", "NodeCount": 1, "TotalCPU": 2}
    return {
        "Snapshots": [snapshot | {"TotalMemory": 0}] if snapshots and env.is_kubernetes else [],
        "Configuration": {"AllowNoneIngressClass": False, "IngressAvailabilityPerNamespace": True},
        "Flags": {
            "IsServerIngressClassDetected": False,
            "IsServerMetricsDetected": False,
            "IsServerStorageDetected": False,
        },
    }


def endpoint_json(env: FakeEnvironment, *, snapshots: bool, admin: bool) -> Json:
    """An `endpoints.endpointResponse`; non-admins get `UserAccessPolicies` nulled like CE does."""
    security = dict.fromkeys(
        [
            "allowBindMountsForRegularUsers",
            "allowContainerCapabilitiesForRegularUsers",
            "allowDeviceMappingForRegularUsers",
            "allowHostNamespaceForRegularUsers",
            "allowPrivilegedModeForRegularUsers",
            "allowSecurityOptForRegularUsers",
            "allowStackManagementForRegularUsers",
            "allowSysctlSettingForRegularUsers",
            "allowVolumeBrowserForRegularUsers",
            "enableHostManagementFeatures",
        ],
        True,
    )
    with_docker = snapshots and not env.is_kubernetes
    return {
        "Id": env.id,
        "Name": env.name,
        "Type": env.type,
        "ContainerEngine": env.container_engine,
        "URL": env.url,
        "PublicURL": "",
        "GroupId": env.group_id,
        "TagIds": [],
        "Status": env.status,
        "StatusMessage": {
            "summary": "",
            "detail": "",
            "operation": "",
            "operationStatus": "",
            "warnings": [],
        },
        "Snapshots": [_docker_snapshot(env)] if with_docker else [],
        "Kubernetes": _kubernetes_json(env, snapshots=snapshots),
        "UserAccessPolicies": {str(u): {"RoleId": 0} for u in env.user_ids} if admin else None,
        "TeamAccessPolicies": {str(t): {"RoleId": 0} for t in env.team_ids},
        "TLSConfig": {"TLS": False, "TLSSkipVerify": False},
        "EdgeID": "",
        "EdgeKey": "",
        "EdgeCheckinInterval": 0,
        "Edge": {"AsyncMode": False, "PingInterval": 0, "SnapshotInterval": 0, "CommandInterval": 0},
        "LastCheckInDate": 0,
        "Heartbeat": False,
        "Agent": {"Version": "2.44.0" if env.type in (2, 6) else ""},
        "SecuritySettings": security,
        "Gpus": [],
        "EnableGPUManagement": False,
        "EnableImageNotification": False,
        "ComposeSyntaxMaxVersion": "",
        "ChangeWindow": {"Enabled": False, "StartTime": "", "EndTime": ""},
        "LocalTimeZone": "",
    }
