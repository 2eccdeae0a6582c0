"""Data imports (DataImport manifests, a Schedule's import_data) that render would refuse, found by
validate first.

The schema holds an import's shape (a database query or a file system path, the written asset's type
matching its source, where it is written, no version in a schedule). This holds what needs the
estate, and the rules render shares (controller/render/kinds/dataimport.py imports them):

- the source's `connection` (azureml:<name>) is a Connection manifest of the import's workspace
  (M003, M009 when it is another workspace's): Azure ML's import service reads the source through
  it, and one amlctl does not create would be missing until someone else made it; its type reaches
  the source (snowflake or azure_sql_db for a database, s3 for a file system: the sources Azure ML's
  data import takes), else M003 says which it would need. Its credentials are held to secret
  references or an identity like every connection's (M007);
- a schedule's `import_data: ./file.yaml` is a DataImport manifest of the estate (M003), as a
  schedule's create_job names a Pipeline manifest; and since every run registers a new version,
  that import must hold what a scheduled one holds (no version; ${{name}} in its path): the
  schema's scheduledImport, reported at the schedule;
- the data asset an import writes is Azure ML's to number: a run registers the next version when it
  completes. A Data manifest of the same name in the same workspace would register versions of its
  own in that sequence: its version 3 and the third import would be the same asset version with two
  contents (Azure refuses the second), and amlctl's `@latest` would be the highest version a
  manifest names, not the latest import. So the asset belongs to the import alone (M001).
"""
from __future__ import annotations

import difflib
import posixpath
from typing import Any, Iterable, Iterator

from controller import schemas as S
from controller.checks import refs
from controller.diagnostics import Diagnostic, error
from controller.manifests.model import Manifest

# The Connection types Azure ML's data import reads each source through (azure-ai-ml's Database and
# FileSystem sources; Azure ML's documentation: Snowflake, Azure SQL Database, Amazon S3).
SOURCE_CONNECTIONS = {"database": ("snowflake", "azure_sql_db"), "file_system": ("s3",)}
SCHEDULED = "scheduledImport"  # data-import.schema.json's $defs: what a scheduled import holds


def _same_workspace(a: Manifest, b: Manifest) -> bool:
    """Whether two manifests share a workspace (one of unknown workspace matches any, as refs do)."""
    return a.workspace == b.workspace or None in (a.workspace, b.workspace)


def is_scheduled(m: Manifest) -> bool:
    return m.kind == "Schedule" and "import_data" in m.spec


def bodies(m: Manifest) -> Iterator[tuple[tuple, dict[str, Any]]]:
    """(spec path, import body) of each import a manifest writes itself: a DataImport's spec, a
    Schedule's inline import_data (one naming a file is that DataImport manifest's)."""
    if m.kind == "DataImport":
        yield (), dict(m.spec)
    elif is_scheduled(m) and isinstance(m.spec["import_data"], dict):
        yield ("import_data",), dict(m.spec["import_data"])


def scheduled_file(m: Manifest, manifests: Iterable[Manifest],
                   local: str) -> tuple[Manifest | None, str | None]:
    """(the DataImport manifest a schedule's `import_data: <file>` names, the problem when none is).
    `local` is the file as a repository-relative path."""
    for d in manifests:
        if d.kind == "DataImport" and d.path == local and _same_workspace(d, m):
            return d, None
    return None, (f"import_data: {local} is not a DataImport manifest of this workspace (is it under the manifests "
                  "folder?); amlctl schedules only imports it renders, or write the import inline")


def connection(m: Manifest, body: dict[str, Any],
               manifests: Iterable[Manifest]) -> tuple[Manifest | None, str, str | None]:
    """(the Connection manifest an import's source reads through, the diagnostic code, the problem
    when it is not one amlctl can use)."""
    source = body.get("source") if isinstance(body.get("source"), dict) else {}
    value = source.get("connection")
    if not isinstance(value, str):
        return None, "", None  # the schema says what is missing
    name = value.removeprefix("azureml:")
    found = [c for c in manifests if c.kind == "Connection" and c.name == name]
    here = [c for c in found if _same_workspace(c, m)]
    if not here and found:
        where = ", ".join(sorted({str(c.workspace) for c in found}))
        return None, "M009", (f"source.connection: Connection {name!r} is defined in workspace {where}, not in "
                              f"{m.workspace!r}; an import reads through a connection of its own workspace")
    if not here:
        names = sorted({c.name for c in manifests if c.kind == "Connection"})
        hint = difflib.get_close_matches(name, names, n=1)
        hint_text = f" (did you mean azureml:{hint[0]}?)" if hint else ""
        return None, "M003", (f"source.connection: no Connection manifest here is named {name!r}{hint_text}; amlctl "
                              "imports only through connections it creates (add a Connection manifest whose "
                              "credentials are secret references or an identity)")
    target = here[0]
    kind = source.get("type")
    wanted = SOURCE_CONNECTIONS.get(kind, ())
    if wanted and target.spec.get("type") not in wanted:
        return target, "M003", (f"source.connection: Connection {name!r} ({target.path}) is type "
                                f"{target.spec.get('type')!r}; a {kind} source reads through a connection of type "
                                f"{' or '.join(wanted)}")
    return target, "", None


def asset_owner(m: Manifest, body: dict[str, Any], manifests: Iterable[Manifest]) -> Manifest | None:
    """A Data manifest of the asset an import writes, in its workspace: there must be none."""
    name = body.get("name")
    return next((d for d in manifests if d.kind == "Data" and d.name == name and _same_workspace(d, m)), None)


def check(manifests: list[Manifest], result: Any, schemas: S.SchemaSet | None = None) -> None:
    schemas = schemas or S.load()
    out: list[Diagnostic] = result.diagnostics
    for m in manifests:
        for at, body in bodies(m):
            _one(m, at, body, manifests, out)
        if is_scheduled(m) and isinstance(m.spec["import_data"], str):
            _scheduled_file(m, manifests, schemas, out)


def _emit(out: list[Diagnostic], m: Manifest, path: tuple, code: str, message: str) -> None:
    src = m.where(path)
    out.append(error(src.path, src.line, src.col, code, message, m.subject))


def _one(m: Manifest, at: tuple, body: dict[str, Any], manifests: list[Manifest], out: list[Diagnostic]) -> None:
    _, code, problem = connection(m, body, manifests)
    if problem:
        _emit(out, m, at + ("source", "connection"), code, problem)
    owner = asset_owner(m, body, manifests)
    if owner is not None:
        _emit(out, m, at + ("name",), "M001",
              f"data asset {body['name']!r} is written by this import and defined by the Data manifest at "
              f"{owner.where(('name',))}: an import's runs register the asset's versions as Azure ML numbers them, "
              "so a manifest's versions of it would collide with them; give the import's asset another name, "
              "or drop the Data manifest")


def local_file(m: Manifest) -> str:
    """A schedule's `import_data: <file>` as a repository-relative path."""
    value = m.spec["import_data"]
    return posixpath.normpath(posixpath.join(posixpath.dirname(m.path), refs.local_path(value) or value))


def _scheduled_file(m: Manifest, manifests: list[Manifest], schemas: S.SchemaSet, out: list[Diagnostic]) -> None:
    local = local_file(m)
    target, problem = scheduled_file(m, manifests, local)
    if problem:
        _emit(out, m, ("import_data",), "M003", problem)
        return
    assert target is not None
    doc = schemas.documents["data-import.schema.json"]
    body = {k: v for k, v in target.spec.items()}
    for p in S.problems_for(schemas, "data-import.schema.json", body, doc["$defs"][SCHEDULED]):
        _emit(out, m, ("import_data",), "M003", f"import_data: {target.path}: {S.dotted(p.path)}: "
              f"{p.message.split(': ', 1)[-1]} (as a scheduled import)")
