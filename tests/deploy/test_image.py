"""deploy/Dockerfile where no Docker daemon runs: its COPY and RUN steps are carried out exactly,
in a clean directory, from a copy of the tracked files as the build context holds them; the
result serves /healthz under the image's own command and passes the image's health check,
holds runtime dependencies only, and works without the source tree. The README's install
steps are the same commands. (Building the image itself needs Docker: not tested here.)"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.embedded import free_port
from tests.deploy.helpers import APP_DIR, ROOT, app_env, dockerfile, stop, wait_healthy

DEV_ONLY = {"pytest", "pytest-timeout", "ruff", "wechatpy", "playwright", "schemathesis"}


def install_steps() -> list[str]:
    """The RUN commands after WORKDIR: what installs Duban (before it: the system user)."""
    seen_workdir, steps = False, []
    for word, args in dockerfile():
        seen_workdir |= word == "WORKDIR"
        if word == "RUN" and seen_workdir:
            steps.append(" ".join(args.split()))
    return steps


def readme_install_steps() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = text.index("<!-- install-steps")
    block = text[marker:].split("```bash\n", 1)[1].split("```", 1)[0]
    return [" ".join(line.split()) for line in block.splitlines() if line.strip()]


def test_readme_install_steps_are_the_dockerfile_steps():
    (workdir,) = [args for word, args in dockerfile() if word == "WORKDIR"]
    assert readme_install_steps() == [f"cd {workdir}", *install_steps()]


def test_image_runs_as_a_system_user_without_dev_tools():
    ins = dockerfile()
    assert ins[0] == ("FROM", "python:3.11-slim")
    (user,) = [args for word, args in ins if word == "USER"]
    (create,) = [args for word, args in ins if word == "RUN" and "useradd" in args]
    assert create.split()[-1] == user and "--system" in create and "nologin" in create
    before_workdir = []
    for word, args in ins:
        if word == "WORKDIR":
            break
        before_workdir += [args] if word == "RUN" else []
    assert before_workdir == [create]  # the one step the test in a temp dir leaves out
    for step in install_steps():
        assert "[dev]" not in step and " -e " not in step and "apt-get" not in step


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(rel: str) -> bool:
    """Whether .dockerignore keeps a path (relative to the repository) out of the context:
    a pattern matches the path or one of its leading folders."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in dockerignore():
        pattern = pattern.removeprefix("**/")
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(Path(p).name, pattern)
               for p in prefixes):  # fmt: skip
            return True
    return False


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p and (ROOT / p).is_file()]


def test_dockerignore_keeps_out_what_the_image_does_not_need_and_nothing_it_copies():
    assert ignored(".venv/bin/python") and ignored("tests/unit/test_config.py")
    assert ignored("bot/__pycache__/config.cpython-311.pyc")
    copied = [src for word, args in dockerfile() if word == "COPY"
              for src in args.split()[:-1]]  # fmt: skip
    for src in copied:
        assert not ignored(src), src


# --- the steps, carried out ------------------------------------------------------------------


@dataclass
class Image:
    app: Path  # what /opt/duban is in the image
    env: dict[str, str]
    cmd: list[str]
    healthcheck: list[str]


def env_words(args: str, env: dict[str, str], app: Path) -> dict[str, str]:
    """An ENV line's KEY=value pairs, $VAR expanded as Docker does, /opt/duban moved."""
    out = {}
    for word in shlex.split(args):
        key, _, value = word.partition("=")
        value = value.replace(APP_DIR, str(app))
        out[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
    return out


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Image:
    """The Dockerfile's steps from FROM to CMD, carried out in a temp dir: COPY from a copy of
    the tracked files less .dockerignore (the build context), RUN with `sh -c` in WORKDIR, with
    the image's ENV. The base image's interpreter is this machine's Python 3.11; the system
    user (useradd) is the one step left out. The image's PIP_NO_CACHE_DIR is not applied: the
    cache changes no file that is installed, only how long it takes here."""
    root = tmp_path_factory.mktemp("image")
    context = root / "context"
    for rel in tracked_files():
        if not ignored(rel):
            (context / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, context / rel)
    app = root / APP_DIR.strip("/")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DUBAN_", "PIP_NO_CACHE")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}  # fmt: skip
    base["PATH"] = f"{Path(sys.base_prefix) / 'bin'}:{base.get('PATH', '/usr/bin:/bin')}"
    env, workdir, cmd, check = base, None, [], []
    for word, args in dockerfile():
        if word == "ENV":
            env = env | env_words(args, env, app)
            env.pop("PIP_NO_CACHE_DIR", None)
        elif word == "WORKDIR":
            workdir = Path(args.replace(APP_DIR, str(app)))
            workdir.mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            *sources, dest = args.split()
            target = workdir / dest
            for src in sources:
                if (context / src).is_dir():
                    shutil.copytree(context / src, target, dirs_exist_ok=True)
                else:
                    assert (context / src).is_file(), f"COPY {src}: not in the build context"
                    (target if dest.endswith("/") else target.parent).mkdir(
                        parents=True, exist_ok=True
                    )
                    shutil.copy2(context / src, target / Path(src).name if dest.endswith("/") else target)  # fmt: skip
        elif word == "RUN" and workdir is not None:
            done = subprocess.run(["sh", "-c", args.replace(APP_DIR, str(app))], cwd=workdir, env=env,
                                  capture_output=True, text=True, timeout=900)  # fmt: skip
            assert done.returncode == 0, f"RUN {args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        elif word == "CMD":
            cmd = json.loads(args)
        elif word == "HEALTHCHECK":
            check = json.loads(args.split(" CMD ", 1)[1])
    assert workdir == app
    return Image(app=app, env=env, cmd=cmd, healthcheck=check)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_image_command_serves_the_app_and_its_health_check_passes(image, redis_url, tmp_path):
    port = free_port()
    cmd = [a.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for a in image.cmd]
    assert f"127.0.0.1:{port}" in cmd
    env = image.env | app_env(redis_url, "image") | {"DUBAN_DATA_DIR": str(tmp_path)}
    env["PATH"] = image.env["PATH"]  # the image's: its venv first
    assert shutil.which(cmd[0], path=env["PATH"]) == str(image.app / "venv" / "bin" / cmd[0])
    web = subprocess.Popen(cmd, cwd=image.app, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        wait_healthy(web, f"http://127.0.0.1:{port}/healthz", timeout=120)
        check = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in image.healthcheck]
        assert check != image.healthcheck  # it asks the web port
        ok = subprocess.run(check, cwd=image.app, env=env, capture_output=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
    finally:
        stop(web)
    down = subprocess.run(check, cwd=image.app, env=env, capture_output=True, timeout=30)
    assert down.returncode != 0  # and fails when nothing answers


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_venv_holds_runtime_dependencies_only_and_every_module_imports(image):
    python = str(image.app / "venv" / "bin" / "python")
    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"], env=image.env,
                            capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert {"flask", "gunicorn", "rq", "redis"} <= names
    assert not names & DEV_ONLY
    every = (
        "import importlib, pkgutil, bot, handlers\n"
        "for pkg in (bot, handlers):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
    )
    done = subprocess.run([python, "-c", every], cwd=image.app, env=image.env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_installed_package_works_without_the_source_tree(image, redis_url, tmp_path):
    """What `pip install .` put in the venv is complete on its own: the admin pages find their
    templates and static files there, run from a directory without the source."""
    script = (
        "import sys, app\n"
        "from bot.config import Settings\n"
        f"assert app.__file__.startswith({str(image.app / 'venv')!r}), app.__file__\n"
        f"s = Settings(redis_url={redis_url!r}, key_prefix='installed', admin_password='pw',\n"
        "             secret_key='k', indicators_path=sys.argv[1], org_path=sys.argv[2])\n"
        "client = app.create_app(s).test_client()\n"
        "for path in ('/admin/login', '/admin/static/duban.css'):\n"
        "    status = client.get(path).status_code\n"
        "    assert status == 200, (path, status)\n"
    )
    done = subprocess.run(
        [str(image.app / "venv" / "bin" / "python"), "-c", script,
         str(image.app / "indicators.yaml"), str(image.app / "org.yaml")],
        cwd=tmp_path, env=image.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
