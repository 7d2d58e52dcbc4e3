"""Build the executable book: papermill first, then Jupyter Book with execution off.

Why two stages: Jupyter Book's own execution (``execute_notebooks: auto``)
re-runs any notebook with one output-less code cell and cannot pass
parameters, so it would re-train at render time (the approach of executable
books such as d2l.ai: execute once, render many times). Instead

1. every notebook page listed in ``_toc.yml`` — a MyST markdown notebook
   ``book/<slug>.md`` read with jupytext (the only source of a chapter), or an
   ``.ipynb`` — is executed with papermill, ``parameters={"profile": profile, ...}``,
   kernel ``python3``, **cwd = the repository root** (so ``import reprolib`` and
   paths such as ``.cache/`` resolve the same way as for
   ``python -m reprolib chapter <slug>`` run from the root), into a staging copy
   ``<out_dir>/src/`` that mirrors the repository layout (``_config.yml``,
   ``_toc.yml``, ``book/<slug>.ipynb``);
2. each chapter's wall time is recorded in ``.cache/book_timings.json`` keyed
   by chapter and profile, with the hardware it ran on; the toc root (the intro)
   is executed last so it can show those times;
3. ``jupyter-book build <out_dir>/src --path-output <out_dir>/book -W --keep-going``
   renders the staging copy (``_config.yml`` has ``execute_notebooks: 'off'``).

Nothing here imports torch at module level.
"""
from __future__ import annotations

import collections
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from .config import PROFILE_HELP as PROFILES
from .io import atomic_write_json, atomic_write_text

__all__ = [
    "BookError",
    "ChapterExecutionError",
    "PROFILES",
    "build_book",
    "execute_chapter",
    "find_root",
    "toc_pages",
    "chapter_title",
    "is_notebook",
    "read_notebook",
    "read_timings",
    "record_timing",
    "timings_path",
    "check_kernel",
    "SCOREBOARD_CSV",
    "write_scoreboard",
]

KERNEL_NAME = "python3"
PAGE_SUFFIXES = (".md", ".ipynb")
#: the scoreboard's rows as CSV, beside the root page in the staging copy and at the root of the HTML
SCOREBOARD_CSV = "scoreboard.csv"


class BookError(RuntimeError):
    """The book cannot be built (bad ``_toc.yml``, missing page, kernel or build failure)."""


class ChapterExecutionError(BookError):
    """A chapter notebook raised while papermill executed it."""

    def __init__(self, chapter: str, profile: str, output: Path, cause: BaseException):
        self.chapter, self.profile, self.output = chapter, profile, output
        detail = _summarise_papermill_error(cause)
        super().__init__(
            f"chapter {chapter!r} failed at profile={profile!r}: {detail}\n"
            f"  executed notebook (with the traceback): {output}\n"
            f"  re-run it alone: python -m reprolib chapter {Path(chapter).name} -p profile {profile} -o out.ipynb"
        )


def _summarise_papermill_error(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    cell = getattr(exc, "exec_count", None)
    if ename:
        where = f" (cell [{cell}])" if cell is not None else ""
        return f"{ename}: {evalue}{where}"
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- toc
def find_root(start: str | os.PathLike | None = None) -> Path:
    """The directory holding ``_toc.yml``: ``start`` (default cwd) or a parent of it.

    Falls back to the checkout containing this file, so ``python -m reprolib
    book`` works from any sub-folder of the repository.
    """
    here = Path(start or os.getcwd()).resolve()
    for d in (here, *here.parents):
        if (d / "_toc.yml").is_file() and (d / "_config.yml").is_file():
            return d
    pkg_root = Path(__file__).resolve().parents[2]
    if (pkg_root / "_toc.yml").is_file():
        return pkg_root
    raise BookError(f"no _toc.yml/_config.yml found in {here} or its parents; "
                    "run from the repository root")


def _toc_entries(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        if "file" in node:
            yield str(node["file"])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key) or []:
                yield from _toc_entries(child)
    elif isinstance(node, list):
        for child in node:
            yield from _toc_entries(child)


def toc_pages(root: str | os.PathLike | None = None) -> list[Path]:
    """Pages of ``_toc.yml`` as paths relative to ``root``, root page first.

    Raises :class:`BookError` naming the entry when a listed page has no
    ``.ipynb``/``.md`` file, rather than letting Sphinx fail later.
    """
    import yaml

    root = Path(root) if root else find_root()
    toc_file = root / "_toc.yml"
    try:
        toc = yaml.safe_load(toc_file.read_text())
    except FileNotFoundError:
        raise BookError(f"{toc_file} does not exist") from None
    if not isinstance(toc, dict) or "root" not in toc:
        raise BookError(f"{toc_file} must be a jb-book toc with a `root:` entry")
    entries = [str(toc["root"]), *_toc_entries(toc)]
    pages, missing = [], []
    for entry in entries:
        base = entry[:-len(Path(entry).suffix)] if Path(entry).suffix in PAGE_SUFFIXES else entry
        found = [base + s for s in PAGE_SUFFIXES if (root / (base + s)).is_file()]
        if not found:
            missing.append(entry)
        elif len(found) > 1:
            raise BookError(f"_toc.yml entry {entry!r} is ambiguous: both {found} exist")
        else:
            pages.append(Path(found[0]))
    if missing:
        raise BookError(
            "_toc.yml lists pages that do not exist: "
            + ", ".join(f"{m!r} (looked for {m}.ipynb / {m}.md in {root})" for m in missing)
            + ". Add the notebook or remove the entry from _toc.yml."
        )
    return pages


def chapter_key(page: str | os.PathLike) -> str:
    """``book/pipeline.md`` -> ``book/pipeline`` (the key in the timings file)."""
    return Path(page).with_suffix("").as_posix()


def is_notebook(path: str | os.PathLike) -> bool:
    """An ``.ipynb``, or a MyST markdown notebook (a jupytext header and ``{code-cell}`` cells)."""
    path = Path(path)
    if path.suffix == ".ipynb":
        return True
    if path.suffix != ".md":
        return False
    text = path.read_text()
    return text.startswith("---") and "jupytext:" in text.split("\n---", 1)[0] and "```{code-cell}" in text


def read_notebook(path: str | os.PathLike):
    """The notebook node of an ``.ipynb`` or of a MyST markdown notebook (jupytext, in memory)."""
    path = Path(path)
    if path.suffix == ".md":
        import jupytext

        return jupytext.read(path, fmt="md:myst")
    import nbformat

    return nbformat.read(path, as_version=4)


def chapter_title(path: str | os.PathLike) -> str:
    """First Markdown ``# heading`` of a notebook or page, else its file stem."""
    path = Path(path)
    if is_notebook(path):
        nb = read_notebook(path)
        texts = [c.source for c in nb.cells if c.cell_type == "markdown"]
    else:
        texts = [path.read_text()]
    for text in texts:
        for line in text.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem


# ---------------------------------------------------------------------- timings
def timings_path(root: str | os.PathLike | None = None) -> Path:
    return (Path(root) if root else find_root()) / ".cache" / "book_timings.json"


def read_timings(root: str | os.PathLike | None = None) -> dict:
    """``{chapter: {profile: {"seconds", "finished", "hardware"}}}``; ``{}`` if none yet."""
    path = timings_path(root)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def record_timing(chapter: str, profile: str, seconds: float,
                  root: str | os.PathLike | None = None,
                  hardware: Mapping[str, Any] | None = None, trained: int | None = None) -> Path:
    """Store one chapter's wall time (atomic write, so a crash never corrupts the file).

    With ``trained`` (runs this execution trained) the time is also kept as the chapter's
    ``warm_seconds`` (nothing trained: render only) or ``cold_seconds`` (it trained), so
    both survive the next build.
    """
    path = timings_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = read_timings(root)
    previous = data.get(chapter, {}).get(profile, {})
    entry = {
        "seconds": round(float(seconds), 2),
        "finished": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "hardware": dict(hardware or hardware_info()),
    }
    if trained is not None:
        entry.update({k: previous[k] for k in ("warm_seconds", "cold_seconds", "cold_trained_runs") if k in previous})
        entry["trained_runs"] = int(trained)
        if trained:
            entry.update(cold_seconds=entry["seconds"], cold_trained_runs=int(trained))
        else:
            entry["warm_seconds"] = entry["seconds"]
    data.setdefault(chapter, {})[profile] = entry
    return atomic_write_json(path, data, indent=2)


def hardware_info() -> dict[str, Any]:
    """CPU model, usable cores, torch threads and device (:func:`reprolib.core.runs.provenance`)."""
    from .runs import provenance

    return provenance()


# -------------------------------------------------------------------- execution
def check_kernel(name: str = KERNEL_NAME) -> str:
    """Make sure kernel ``name`` runs *this* interpreter, or raise with the fix.

    jupyter_client replaces a bare ``python``/``python3`` in a kernel spec by
    ``sys.executable``, so the stock ipykernel spec is fine. A user-level spec
    pointing at another interpreter (it shadows the venv's) would run the
    chapters without the venv's packages, hence the check.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    fix = f"fix: {sys.executable} -m ipykernel install --sys-prefix --name {name}"
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise BookError(f"no Jupyter kernel named {name!r}; {fix}") from None
    exe = spec.argv[0] if spec.argv else ""
    v = sys.version_info
    if exe in {"python", f"python{v[0]}", f"python{v[0]}.{v[1]}"}:
        return sys.executable
    exe_abs = os.path.abspath(exe)
    if exe_abs == os.path.abspath(sys.executable) or exe_abs.startswith(
            os.path.abspath(sys.prefix) + os.sep):
        return exe_abs
    raise BookError(
        f"Jupyter kernel {name!r} ({spec.resource_dir}) runs {exe}, not this "
        f"environment's {sys.executable}; {fix}")


def execute_chapter(src: str | os.PathLike, dst: str | os.PathLike, profile: str,
                    parameters: Mapping[str, Any] | None = None, *,
                    cwd: str | os.PathLike | None = None, progress: bool = False,
                    chapter: str | None = None, timeout: float | None = None) -> float:
    """Execute one notebook (``.md`` via jupytext, or ``.ipynb``) with papermill; return its wall time in seconds.

    ``cwd`` defaults to the repository root. Raises
    :class:`ChapterExecutionError` (naming the chapter) if a cell fails; the
    partially executed notebook, with the traceback, is then written next to
    ``dst`` as ``<name>.failed.ipynb`` and ``dst`` is removed, so a stale or
    broken copy is never rendered.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    check_kernel()
    src, dst = Path(src), Path(dst)
    source = read_notebook(src) if src.suffix == ".md" else str(src)
    chapter = chapter or chapter_key(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    cwd = Path(cwd) if cwd else find_root(src.parent)
    running = dst.with_name(dst.stem + ".running.ipynb")
    t0 = time.perf_counter()
    # Progress bars saved into a rendered page show a frozen "0%": the kernel inherits
    # TQDM_DISABLE (set REPROLIB_PROGRESS=1 to keep them, e.g. for a long run by hand).
    previous = os.environ.get("TQDM_DISABLE")
    if os.environ.get("REPROLIB_PROGRESS") != "1":
        os.environ["TQDM_DISABLE"] = "1"
    try:
        pm.execute_notebook(
            source, str(running),
            parameters={"profile": profile, **dict(parameters or {})},
            kernel_name=KERNEL_NAME, cwd=str(cwd), progress_bar=progress,
            execution_timeout=timeout,
        )
    except PapermillExecutionError as exc:
        failed = dst.with_name(dst.stem + ".failed.ipynb")
        running.replace(failed)
        dst.unlink(missing_ok=True)
        raise ChapterExecutionError(chapter, profile, failed, exc) from exc
    finally:
        if previous is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = previous
    seconds = time.perf_counter() - t0
    _inherit_visibility_tags(running)
    running.replace(dst)
    dst.with_name(dst.stem + ".failed.ipynb").unlink(missing_ok=True)
    return seconds


VISIBILITY_TAGS = ("remove-cell", "remove-input", "remove-output",
                   "hide-cell", "hide-input", "hide-output")


def _inherit_visibility_tags(path: Path) -> None:
    """Give papermill's ``injected-parameters`` cell the hide/remove tags of ``parameters``.

    Otherwise hiding the parameters cell still leaves the injected copy visible.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    tags_of = lambda c: c.get("metadata", {}).get("tags", [])  # noqa: E731
    params = next((c for c in nb.cells if "parameters" in tags_of(c)), None)
    injected = next((c for c in nb.cells if "injected-parameters" in tags_of(c)), None)
    if params is None or injected is None:
        return
    extra = [t for t in tags_of(params) if t in VISIBILITY_TAGS and t not in tags_of(injected)]
    if extra:
        injected.metadata["tags"] = [*tags_of(injected), *extra]
        nbformat.write(nb, path)


def _copy_sources(root: Path, staging: Path, pages: list[Path]) -> None:
    """Mirror the book's non-notebook files into ``staging`` (notebook pages are executed in as ``.ipynb``)."""
    staging.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, staging / name)
    for bib in root.glob("*.bib"):
        shutil.copy2(bib, staging / bib.name)
    notebooks = {(root / p).resolve() for p in pages if is_notebook(root / p)}

    def ignore(folder, names):
        skip = set(shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__")(folder, names))
        return skip | {n for n in names if (Path(folder) / n).resolve() in notebooks}

    for top in sorted({p.parts[0] for p in pages if len(p.parts) > 1}):
        shutil.copytree(root / top, staging / top, ignore=ignore, dirs_exist_ok=True)
    for page in pages:
        if not is_notebook(root / page):
            (staging / page).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / page, staging / page)


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"[book] {msg}", flush=True)


def build_book(profile: str = "cpu", out_dir: str | os.PathLike = "_build",
               chapters: Iterable[str] | None = None,
               parameters: Mapping[str, Any] | None = None,
               progress: bool = True, *, root: str | os.PathLike | None = None) -> Path:
    """Execute the book's notebooks at ``profile`` and render them to HTML.

    Parameters
    ----------
    profile:
        ``smoke`` | ``cpu`` | ``full``, passed to every notebook as ``profile``.
    out_dir:
        Build folder (relative to ``root``): ``<out_dir>/src`` is the executed
        staging copy, ``<out_dir>/book/_build/html`` the site, ``<out_dir>/verdicts``
        the chapters' verdict rows (read by the intro's scoreboard).
    chapters:
        Execute only these chapters (``"pipeline"`` or ``"book/pipeline"``);
        the other notebook pages keep their executed copy from an earlier build
        in the same ``out_dir`` (or render without outputs, with a notice).
        The root page (intro) is always re-executed, last, so its timing
        table is current. ``None`` executes everything.
    parameters:
        Extra papermill parameters for every notebook (after ``profile``).
    root:
        Repository root holding ``_toc.yml``; default: found from the cwd.

    Returns the absolute path of ``<out_dir>/book/_build/html/index.html``.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    root = Path(root).resolve() if root else find_root()
    out = Path(out_dir)
    out = (out if out.is_absolute() else root / out).resolve()
    staging, site = out / "src", out / "book"
    pages = toc_pages(root)
    notebooks = [p for p in pages if is_notebook(root / p)]
    intro, others = pages[0], [p for p in notebooks if p != pages[0]]

    wanted = None
    if chapters is not None:
        wanted = {chapter_key(c if "/" in str(c) else f"{intro.parent.as_posix()}/{c}")
                  for c in chapters}
        unknown = wanted - {chapter_key(p) for p in notebooks}
        if unknown:
            raise BookError(f"unknown chapter(s) {sorted(unknown)}; _toc.yml notebooks: "
                            f"{[chapter_key(p) for p in notebooks]}")

    if notebooks:
        check_kernel()  # fail before copying anything
    _copy_sources(root, staging, pages)
    hw = hardware_info()
    _log(progress, f"profile={profile}, {hw['cpu']} x{hw['cores']}, device={hw['device']}")
    t_all = time.perf_counter()
    order = others + ([intro] if intro in notebooks else [])
    previous = os.environ.get("REPROLIB_VERDICTS")
    os.environ["REPROLIB_VERDICTS"] = str(out / "verdicts")  # chapters publish here; the intro's scoreboard reads it
    try:
        for page in order:
            key = chapter_key(page)
            target = staging / page.with_suffix(".ipynb")
            if wanted is not None and key not in wanted and page != intro:
                if not target.exists():
                    _log(progress, f"{key}: not executed (not in --chapters), rendered without outputs")
                    _write_unexecuted(root / page, target)
                continue
            _log(progress, f"executing {key} ...")
            before = _finished_runs()
            seconds = execute_chapter(root / page, target, profile, parameters,
                                      cwd=root, progress=progress, chapter=key)
            trained = len(_finished_runs() - before)
            if page != intro:
                record_timing(key, profile, seconds, root=root, hardware=hw, trained=trained)
            _log(progress, f"{key}: {seconds:.1f} s, "
                           + (f"{trained} run(s) trained" if trained else "trained nothing (every run read from the cache)"))
    finally:
        if previous is None:
            os.environ.pop("REPROLIB_VERDICTS", None)
        else:
            os.environ["REPROLIB_VERDICTS"] = previous
    _log(progress, f"executed {len(order)} notebook(s) in {time.perf_counter() - t_all:.1f} s")
    # the intro links it with {download}: it must exist in the staging copy before rendering
    csv = write_scoreboard(out / "verdicts", staging / intro.parent / SCOREBOARD_CSV, profile,
                           order=[Path(p).stem for p in others])

    _render(staging, site, progress)
    index = site / "_build" / "html" / "index.html"
    if not index.is_file():
        raise BookError(f"jupyter-book finished but {index} is missing")
    shutil.copy2(csv, index.parent / SCOREBOARD_CSV)  # a stable address too: <html>/scoreboard.csv
    _log(progress, f"book: {index}")
    return index


def write_scoreboard(verdicts: str | os.PathLike, path: str | os.PathLike, profile: str | None = None,
                     order: Iterable[str] = ()) -> Path:
    """Write every chapter's published verdict rows at ``profile`` as one CSV (the intro's scoreboard)."""
    from .chapter import scoreboard

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, scoreboard(verdicts, profile, order=list(order)).to_csv(index=False))


def _finished_runs() -> set[str]:
    """Finished run-cache entries (``<experiment>/<key>``): to say how many runs a chapter trained."""
    from .runs import cache_dir

    root = cache_dir()
    return {p.parent.relative_to(root).as_posix() for p in root.glob("*/*/manifest.json")} if root.is_dir() else set()


def _write_unexecuted(src: Path, dst: Path) -> None:
    import nbformat

    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(read_notebook(src), dst)


def _render(staging: Path, site: Path, progress: bool) -> None:
    """``jupyter-book build`` with warnings as errors; its log tail goes into the error."""
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(staging),
           "--path-output", str(site), "-W", "--keep-going"]
    _log(progress, " ".join(cmd))
    tail: collections.deque[str] = collections.deque(maxlen=60)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, cwd=staging) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            if progress:
                print(line, end="", flush=True)
    if proc.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit {proc.returncode}):\n"
                        + "\n".join(tail))
