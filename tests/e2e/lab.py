"""A two-namespace network lab for real-browser tests, and the server process that runs inside it.

    netns <name>-srv: lo + v-srv 10.201.0.1   server process, practitioner's Chromium
    netns <name>-pat: lo + v-pat 10.201.0.2   patient's Chromium (the "phone")

``add_doctor_network()`` adds a third namespace for the practitioner's Chromium that only reaches the server:

    netns <name>-doc: lo + v-doc 10.201.1.2   practitioner's Chromium, linked to the server's v-sdoc 10.201.1.1

The server namespace does not forward between its links, so the two browsers cannot reach each other directly
(peer-to-peer ICE fails) while both reach the server: what relay through the server is for.

Nothing is created in the machine's own namespace and nothing routes outside the pair, so browser, WebRTC and
socket.io traffic stays inside the lab. ``cut()`` / ``restore()`` take the patient's link down and up again, which
is what a phone sees when it loses Wi-Fi and gets a network back.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from server.platform.certs import ensure_dev_certs

__all__ = ["Lab", "LabServer", "lab_available", "CHROMIUM_FLAGS"]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/lib/chromium/chromium" if Path("/usr/lib/chromium/chromium").exists() else "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic", "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def lab_available() -> str | None:
    """Why the lab cannot run here, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 is missing"
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed"
    return None


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@dataclass
class Lab:
    name: str
    workdir: Path
    srv_ip: str = "10.201.0.1"
    pat_ip: str = "10.201.0.2"
    doc_ip: str = "10.201.1.2"
    doc_gateway: str = "10.201.1.1"
    wrappers: dict[str, Path] = field(default_factory=dict)

    @property
    def srv(self) -> str:
        return f"{self.name}-srv"

    @property
    def pat(self) -> str:
        return f"{self.name}-pat"

    @property
    def doc(self) -> str:
        return f"{self.name}-doc"

    def up(self) -> None:
        for ns in (self.srv, self.pat):
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "link", "add", "v-srv", "netns", self.srv, "type", "veth", "peer", "name", "v-pat",
             "netns", self.pat)
        _run("ip", "-n", self.srv, "addr", "add", f"{self.srv_ip}/24", "dev", "v-srv")
        _run("ip", "-n", self.pat, "addr", "add", f"{self.pat_ip}/24", "dev", "v-pat")
        _run("ip", "-n", self.srv, "link", "set", "v-srv", "up")
        _run("ip", "-n", self.pat, "link", "set", "v-pat", "up")
        for ns in (self.srv, self.pat):
            wrapper = self.workdir / f"chromium-{ns}"
            wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} "$@"\n')
            wrapper.chmod(0o755)
            self.wrappers[ns] = wrapper

    def add_doctor_network(self) -> None:
        _run("ip", "netns", "add", self.doc)
        _run("ip", "-n", self.doc, "link", "set", "lo", "up")
        _run("ip", "link", "add", "v-sdoc", "netns", self.srv, "type", "veth", "peer", "name", "v-doc",
             "netns", self.doc)
        _run("ip", "-n", self.srv, "addr", "add", f"{self.doc_gateway}/24", "dev", "v-sdoc")
        _run("ip", "-n", self.doc, "addr", "add", f"{self.doc_ip}/24", "dev", "v-doc")
        _run("ip", "-n", self.srv, "link", "set", "v-sdoc", "up")
        _run("ip", "-n", self.doc, "link", "set", "v-doc", "up")
        _run("ip", "netns", "exec", self.srv, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
        # The server's public address (on its other link) is local to it: reachable without forwarding.
        _run("ip", "-n", self.doc, "route", "add", f"{self.srv_ip}/32", "via", self.doc_gateway)
        wrapper = self.workdir / f"chromium-{self.doc}"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {self.doc} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        self.wrappers[self.doc] = wrapper

    def down(self) -> None:
        for ns in (self.srv, self.pat, self.doc):
            subprocess.run(["ip", "netns", "pids", ns], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def cut(self) -> None:
        _run("ip", "-n", self.pat, "link", "set", "v-pat", "down")

    def restore(self) -> None:
        _run("ip", "-n", self.pat, "link", "set", "v-pat", "up")


@dataclass
class LabServer:
    """``python -m server run`` inside the lab's server namespace, on SQLite, with a fresh CA."""

    lab: Lab
    port: int = 8443
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://{self.lab.srv_ip}:{self.port}"

    def start(self, **extra_env: str) -> None:
        var = self.lab.workdir / "var"
        certs = ensure_dev_certs(self.lab.workdir / "certs", [self.lab.srv_ip, "localhost", "127.0.0.1"])
        self.env = {
            **os.environ,
            "LUCARNE_DATABASE_URL": f"sqlite+aiosqlite:///{var / 'lucarne.db'}",
            "LUCARNE_VAR_DIR": str(var),
            "LUCARNE_CERT_DIR": str(certs.server_cert.parent),
            "LUCARNE_PUBLIC_URL": self.url,
            "LUCARNE_HOST": "0.0.0.0",
            "LUCARNE_PORT": str(self.port),
            "LUCARNE_SECRET_KEY": base64.b64encode(secrets.token_bytes(48)).decode(),
            "LUCARNE_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            **extra_env,
        }
        var.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "server", "migrate"], env=self.env, cwd=ROOT, check=True,
                       capture_output=True)
        subprocess.run([sys.executable, "-m", "server", "create-user", "medecin", "--name", "Dr Martin"],
                       input=b"correct horse battery\n", env=self.env, cwd=ROOT, check=True, capture_output=True)
        log = open(self.lab.workdir / "server.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(["ip", "netns", "exec", self.lab.srv, sys.executable, "-m", "server", "run"],
                                        env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        probe = ("import ssl,urllib.request,sys;c=ssl.create_default_context();c.check_hostname=False;"
                 "c.verify_mode=ssl.CERT_NONE;urllib.request.urlopen(sys.argv[1],context=c,timeout=1)")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError((self.lab.workdir / "server.log").read_text())
            done = subprocess.run(["ip", "netns", "exec", self.lab.srv, sys.executable, "-c", probe,
                                   f"{self.url}/readyz"], capture_output=True)
            if done.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("lab server did not become ready")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
