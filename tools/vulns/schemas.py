"""The scanners' JSON report shapes as pydantic models: only the fields Regent reads, the rest ignored.

Trivy: `trivy image --format json` (aquasecurity/trivy pkg/types, SchemaVersion 2). Grype: `grype -o json`
(anchore/grype grype/presenter/models, with syft's image source metadata). Unknown fields are tolerated
(`extra="ignore"`) because both tools add fields between releases; missing optional fields default.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# -- Trivy --------------------------------------------------------------------------------------------


class TrivyLayer(_Lenient):
    """Where a package came from: compressed digest (remote scans) and diff id."""

    digest: str = Field(default="", alias="Digest")
    diff_id: str = Field(default="", alias="DiffID")


# CVSS base scores are 0.0-10.0 in every version. A score outside that range is a corrupt or edited report,
# and it would drive the priority (98 outranks any KEV entry), so the whole report is refused.
CvssScore = Annotated[float, Field(ge=0.0, le=10.0)]


class TrivyCvss(_Lenient):
    """One source's CVSS scores."""

    v2_score: CvssScore | None = Field(default=None, alias="V2Score")
    v3_score: CvssScore | None = Field(default=None, alias="V3Score")
    v40_score: CvssScore | None = Field(default=None, alias="V40Score")


class TrivyVulnerability(_Lenient):
    """One `Results[].Vulnerabilities[]` entry."""

    vulnerability_id: str = Field(alias="VulnerabilityID", min_length=1)
    vendor_ids: list[str] = Field(default_factory=list, alias="VendorIDs")
    pkg_name: str = Field(default="", alias="PkgName")
    installed_version: str = Field(default="", alias="InstalledVersion")
    fixed_version: str = Field(default="", alias="FixedVersion")
    status: str = Field(default="", alias="Status")
    severity: str = Field(default="UNKNOWN", alias="Severity")
    title: str = Field(default="", alias="Title")
    primary_url: str = Field(default="", alias="PrimaryURL")
    layer: TrivyLayer = Field(default_factory=TrivyLayer, alias="Layer")
    cvss: dict[str, TrivyCvss] = Field(default_factory=dict, alias="CVSS")


class TrivyModifiedFinding(_Lenient):
    """A `Results[].ExperimentalModifiedFindings[]` entry; only its type is read (they are skipped)."""

    type: str = Field(default="", alias="Type")
    status: str = Field(default="", alias="Status")


class TrivyResult(_Lenient):
    """One scanned target inside the image (OS packages, a lock file, a binary)."""

    target: str = Field(default="", alias="Target")
    klass: str = Field(default="", alias="Class")
    type: str = Field(default="", alias="Type")
    vulnerabilities: list[TrivyVulnerability] | None = Field(default=None, alias="Vulnerabilities")
    # `--show-suppressed`: findings .trivyignore or VEX set aside, `{"Type": "vulnerability", "Finding": …}`
    modified_findings: list[TrivyModifiedFinding] | None = Field(
        default=None, alias="ExperimentalModifiedFindings"
    )


class TrivyMetadata(_Lenient):
    """Image identity as Trivy saw it."""

    image_id: str = Field(default="", alias="ImageID")
    diff_ids: list[str] = Field(default_factory=list, alias="DiffIDs")
    repo_tags: list[str] = Field(default_factory=list, alias="RepoTags")
    repo_digests: list[str] = Field(default_factory=list, alias="RepoDigests")
    image_config: dict[str, Any] = Field(default_factory=dict, alias="ImageConfig")


class TrivyInfo(_Lenient):
    """`Trivy`: the version that wrote the report (recent Trivy releases add it; older ones do not)."""

    version: str = Field(default="", alias="Version")


class TrivyReport(_Lenient):
    """A whole `trivy image -f json` document."""

    schema_version: object = Field(default=None, alias="SchemaVersion")  # checked by the parser: only 2
    trivy: TrivyInfo = Field(default_factory=TrivyInfo, alias="Trivy")
    created_at: str = Field(default="", alias="CreatedAt")
    artifact_name: str = Field(default="", alias="ArtifactName")
    artifact_type: str = Field(default="container_image", alias="ArtifactType")
    metadata: TrivyMetadata = Field(default_factory=TrivyMetadata, alias="Metadata")
    results: list[TrivyResult] | None = Field(default=None, alias="Results")


# -- Grype --------------------------------------------------------------------------------------------


class GrypeCvssMetrics(_Lenient):
    """CVSS metrics; only the base score matters here."""

    base_score: CvssScore | None = Field(default=None, alias="baseScore")


class GrypeCvss(_Lenient):
    """One CVSS entry (`version` "2.0", "3.1", "4.0")."""

    source: str = ""
    version: str = ""
    metrics: GrypeCvssMetrics = Field(default_factory=GrypeCvssMetrics)


class GrypeKev(_Lenient):
    """A `knownExploited[]` entry (CISA KEV data attached by Grype)."""

    cve: str = ""
    date_added: str = Field(default="", alias="dateAdded")
    due_date: str = Field(default="", alias="dueDate")
    known_ransomware_campaign_use: str = Field(default="", alias="knownRansomwareCampaignUse")


class GrypeEpss(_Lenient):
    """An `epss[]` entry."""

    cve: str = ""
    epss: float = Field(default=0.0, ge=0.0, le=1.0)
    percentile: float = Field(default=0.0, ge=0.0, le=1.0)
    date: str = ""


class GrypeFix(_Lenient):
    """Fix versions and state: fixed | not-fixed | wont-fix | unknown."""

    versions: list[str] = Field(default_factory=list)
    state: str = "unknown"


class GrypeVulnerabilityMetadata(_Lenient):
    """A related vulnerability (e.g. the NVD record of a GHSA match)."""

    id: str = ""
    severity: str = ""
    cvss: list[GrypeCvss] = Field(default_factory=list)


class GrypeVulnerability(_Lenient):
    """`matches[].vulnerability`."""

    id: str = Field(min_length=1)
    severity: str = "Unknown"
    description: str = ""
    urls: list[str] = Field(default_factory=list)
    cvss: list[GrypeCvss] = Field(default_factory=list)
    fix: GrypeFix = Field(default_factory=GrypeFix)
    known_exploited: list[GrypeKev] = Field(default_factory=list, alias="knownExploited")
    epss: list[GrypeEpss] = Field(default_factory=list)
    risk: float | None = None


class GrypeLocation(_Lenient):
    """Where the package was found; `layerID` is the layer's diff id."""

    path: str = ""
    layer_id: str = Field(default="", alias="layerID")


class GrypeArtifact(_Lenient):
    """`matches[].artifact`: the vulnerable package."""

    name: str = ""
    version: str = ""
    type: str = ""
    locations: list[GrypeLocation] = Field(default_factory=list)
    purl: str = ""


class GrypeMatch(_Lenient):
    """One `matches[]` entry."""

    vulnerability: GrypeVulnerability
    related_vulnerabilities: list[GrypeVulnerabilityMetadata] = Field(
        default_factory=list, alias="relatedVulnerabilities"
    )
    artifact: GrypeArtifact = Field(default_factory=GrypeArtifact)


class GrypeImageTarget(_Lenient):
    """`source.target` for an image source (syft's image metadata)."""

    user_input: str = Field(default="", alias="userInput")
    image_id: str = Field(default="", alias="imageID")
    manifest_digest: str = Field(default="", alias="manifestDigest")
    tags: list[str] = Field(default_factory=list)
    repo_digests: list[str] = Field(default_factory=list, alias="repoDigests")
    architecture: str = ""
    os: str = ""


class GrypeSource(_Lenient):
    """`source`: what was scanned."""

    type: str = ""
    target: GrypeImageTarget | str | None = None


class GrypeDescriptor(_Lenient):
    """`descriptor`: the tool and when it ran."""

    name: str = "grype"
    version: str = ""
    timestamp: str = ""


class GrypeReport(_Lenient):
    """A whole `grype -o json` document."""

    matches: list[GrypeMatch]
    ignored_matches: list[dict[str, Any]] = Field(default_factory=list, alias="ignoredMatches")
    source: GrypeSource | None = None
    descriptor: GrypeDescriptor = Field(default_factory=GrypeDescriptor)
