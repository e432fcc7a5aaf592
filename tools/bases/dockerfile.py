"""Dockerfile snippets per language: multi-stage, non-root, every FROM pinned by digest.

The snippets are starting points a developer adapts (paths, entry points); what they guarantee is the
shape the platform team wants: a build stage, a minimal runtime stage on the recommended base by digest,
no root at run time.
"""

from __future__ import annotations

from tools.bases.catalog import Language

UID = 10001  # a fixed non-root uid: no user database needed in minimal bases

_RUN: dict[Language, str] = {
    "python": (
        "FROM {build} AS build\n"
        "WORKDIR /app\n"
        "COPY requirements.txt .\n"
        "RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt\n"
        "COPY . .\n\n"
        "FROM {base}\n"
        "WORKDIR /app\n"
        "COPY --from=build /opt/venv /opt/venv\n"
        "COPY --from=build --chown={uid}:{uid} /app /app\n"
        "ENV PATH=/opt/venv/bin:$PATH\n"
        "USER {uid}:{uid}\n"
        "{command}\n"
    ),
    "node": (
        "FROM {build} AS build\n"
        "WORKDIR /app\n"
        "COPY package.json package-lock.json ./\n"
        "RUN npm ci --omit=dev\n"
        "COPY . .\n\n"
        "FROM {base}\n"
        "WORKDIR /app\n"
        "COPY --from=build --chown={uid}:{uid} /app /app\n"
        "USER {uid}:{uid}\n"
        "{command}\n"
    ),
    "java": (
        "FROM {build} AS build\n"
        "WORKDIR /src\n"
        "COPY . .\n"
        "RUN ./mvnw -q -DskipTests package && cp target/*.jar /app.jar\n\n"
        "FROM {base}\n"
        "COPY --from=build --chown={uid}:{uid} /app.jar /app/app.jar\n"
        "USER {uid}:{uid}\n"
        "{command}\n"
    ),
    "go": (
        "FROM {build} AS build\n"
        "WORKDIR /src\n"
        "COPY go.mod go.sum ./\n"
        "RUN go mod download\n"
        "COPY . .\n"
        "RUN CGO_ENABLED=0 go build -trimpath -o /out/app .\n\n"
        "FROM {base}\n"
        "COPY --from=build /out/app /app\n"
        "USER {uid}:{uid}\n"
        "{command}\n"
    ),
    "dotnet": (
        "FROM {build} AS build\n"
        "WORKDIR /src\n"
        "COPY . .\n"
        "RUN dotnet publish -c Release -o /out\n\n"
        "FROM {base}\n"
        "WORKDIR /app\n"
        "COPY --from=build --chown={uid}:{uid} /out /app\n"
        "USER {uid}:{uid}\n"
        "{command}\n"
    ),
    "static": (
        "FROM {build} AS build\n"
        "WORKDIR /site\n"
        "COPY . .\n\n"
        "FROM {base}\n"
        "COPY --from=build --chown={uid}:{uid} /site /srv\n"
        "USER {uid}:{uid}\n"
        "{command}\n"
    ),
}

_COMMANDS: dict[str, str] = {
    "python": 'CMD ["python", "-m", "app"]',
    "fastapi": 'CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]',
    "django": 'CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000"]',
    "flask": 'CMD ["gunicorn", "app:app", "--bind", "0.0.0.0:8000"]',
    "node": 'CMD ["node", "server.js"]',
    "express": 'CMD ["node", "server.js"]',
    "nextjs": 'CMD ["node", "node_modules/next/dist/bin/next", "start"]',
    "java": 'ENTRYPOINT ["java", "-jar", "/app/app.jar"]',
    "spring": 'ENTRYPOINT ["java", "-XX:MaxRAMPercentage=75", "-jar", "/app/app.jar"]',
    "go": 'ENTRYPOINT ["/app"]',
    "dotnet": 'ENTRYPOINT ["dotnet", "App.dll"]',
    "aspnet": 'ENTRYPOINT ["dotnet", "App.dll"]',
    "static": 'CMD ["httpd", "-f", "-p", "8080", "-h", "/srv"]',
}


def dockerfile_snippet(language: Language, *, base: str, build: str, framework: str | None) -> str:
    """The snippet for a language (and framework, when it has its own start command)."""
    command = _COMMANDS.get((framework or "").lower(), _COMMANDS[language])
    header = f"# syntax=docker/dockerfile:1\n# Base recommended by Regent, pinned by digest: {base}\n"
    return header + _RUN[language].format(base=base, build=build, uid=UID, command=command)
