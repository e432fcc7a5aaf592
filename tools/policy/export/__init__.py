"""Retention policies exported to a registry's own retention (`regent plan --policy F --export FORMAT`).

One module per format (ecr_lifecycle, harbor_retention, gar_cleanup, gitlab_cleanup, acr_purge), each with
`export(request: ExportRequest) -> NativeExport`, listed in EXPORTERS and imported only when used.
"""
