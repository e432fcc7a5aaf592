"""Native dry runs of exported documents, as `regent plan --export` shows them next to Regent's plan.

Each function here adapts one format's own preview module to the shared shape (base.NativePreview); the
preview itself (which calls, how it waits) stays with the format. A registry whose live client is not its
kind's adapter (read through Portainer's proxy, say) gets no preview: the caller says so.
"""

from __future__ import annotations

from tools.errors import RegentError
from tools.policy.export.base import ExportRequest, NativeExport, NativePreview, PreviewClients, PreviewRow
from tools.policy.export.common import registry_names


def ecr_lifecycle_preview(
    export: NativeExport, request: ExportRequest, clients: PreviewClients
) -> list[NativePreview]:
    """ECR's StartLifecyclePolicyPreview of each exported document, paired with the plan."""
    from tools.policy.export.ecr_preview import preview_side_by_side
    from tools.registry.kinds.ecr.adapter import EcrRegistry

    names = registry_names(request, "ecr")
    out: list[NativePreview] = []
    for name in names:
        client = clients.get(name)
        if not isinstance(client, EcrRegistry):
            raise RegentError(f"registry {name}: no ECR API client to preview with (read through a proxy?)")
        # ecr_lifecycle names documents by repository, prefixed with the registry when several are exported
        documents = {
            key.removeprefix(f"{name}/") if len(names) > 1 else key: document
            for key, document in export.documents.items()
            if len(names) == 1 or key.startswith(f"{name}/")
        }
        for side in preview_side_by_side(documents, plan=request.plan, registry=name, api=client.api):
            rows = tuple(
                PreviewRow(
                    digest=row.digest,
                    tags=row.tags,
                    regent=row.regent,
                    native=row.ecr,
                    regent_reason=row.regent_reason,
                    native_reason=f"rule {row.ecr_rule}" if row.ecr_rule is not None else "",
                )
                for row in side.rows
            )
            out.append(NativePreview(side.registry, side.repository, side.status, rows))
    return out
