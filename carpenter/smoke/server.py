"""Start the image's own CMD on an internal network and check the inference contract.

The network is `internal` (no egress: a server that downloads weights at start fails here as
it would in an offline evaluation; `--real-weights` lifts this). The host reaches the
container's bridge IP directly, so no port is published. Container and network are always removed.
"""

from __future__ import annotations

import ipaddress
import time
import uuid

from carpenter import containers
from carpenter.core.redact import redact
from carpenter.smoke.containers import create_and_start
from carpenter.smoke.contract import ContractClient, check_contract, load_contract
from carpenter.smoke.result import ServerResult, SmokeResult

POLL_S = 0.5
PORTS_EVERY_S = 2.0
LOG_TAIL_LINES = 30
# /proc/net/tcp{,6}: column 4 is the state, 0A = LISTEN; the local port is hex after ':'.
READ_SOCKETS = ["/bin/sh", "-c", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null"]
DOCKER_DNS = "127.0.0.11"


def _address(hex_addr: str) -> str:
    """/proc/net/tcp addresses are little-endian hex words."""
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listening_sockets(container) -> set[tuple[str, int]] | None:
    """(address, port) of TCP sockets listening inside the container, or None if unreadable.

    Docker's embedded DNS listens on 127.0.0.11 in every user-defined network: not the server.
    """
    try:
        code, output = container.exec_run(READ_SOCKETS, stdout=True, stderr=False)
    except Exception:
        return None
    if code not in (0, 1) or not output:
        return None
    sockets = set()
    for line in output.decode("ascii", "replace").splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            hex_addr, hex_port = fields[1].rsplit(":", 1)
            try:
                address = _address(hex_addr)
                port = int(hex_port, 16)
            except ValueError:
                continue
            if address != DOCKER_DNS:
                sockets.add((address, port))
    return sockets


def reachable_ports(sockets: set[tuple[str, int]]) -> set[int]:
    return {port for address, port in sockets if not ipaddress.ip_address(address).is_loopback}


def container_ip(container, network_name: str) -> str | None:
    container.reload()
    networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return (networks.get(network_name) or {}).get("IPAddress") or None


def log_tail(container) -> str:
    try:
        text = container.logs(stdout=True, stderr=True, tail=LOG_TAIL_LINES)
    except Exception:
        return ""
    return redact(text.decode("utf-8", "replace"))


def wait_ready(container, client: ContractClient, contract, out: ServerResult,
               deadline: float, started: float) -> bool:
    """Poll until any HTTP answer on the contract port, the container exits, or the deadline.

    A server that listens only on other ports for `wrong_port_grace_s` is reported early as
    listening on the wrong port instead of waiting out the whole deadline.
    """
    probe = contract.tokenize
    listening_since, last_check, sockets = None, 0.0, None
    while time.monotonic() < deadline:
        reply = client.post(probe["path"], {"text": "hi"}, timeout=5)
        if reply.status is not None:
            out.ready_after_s = round(time.monotonic() - started, 2)
            return out.add(f"server ready on port {contract.port}", True,
                           f"answered after {out.ready_after_s} s")
        container.reload()
        if container.status in ("exited", "dead"):
            code = (container.attrs.get("State") or {}).get("ExitCode")
            return out.add(f"server ready on port {contract.port}", False,
                           f"the server exited with code {code} before answering")
        now = time.monotonic()
        if now - last_check >= PORTS_EVERY_S:
            last_check = now
            sockets = listening_sockets(container)
            if sockets and contract.port not in reachable_ports(sockets):
                listening_since = listening_since or now
                if now - listening_since >= contract.wrong_port_grace_s:
                    return wrong_port(out, contract, sockets)
            else:
                listening_since = None
        time.sleep(POLL_S)
    if sockets and contract.port not in reachable_ports(sockets):
        return wrong_port(out, contract, sockets)
    return out.add(f"server ready on port {contract.port}", False,
                   f"no answer on port {contract.port} within the deadline")


def wrong_port(out: ServerResult, contract, sockets: set[tuple[str, int]]) -> bool:
    name = f"server ready on port {contract.port}"
    loopback = sorted(f"{a}:{p}" for a, p in sockets if ipaddress.ip_address(a).is_loopback)
    if any(p == contract.port for a, p in sockets):
        return out.add(name, False, f"the server listens on {', '.join(loopback)} only: bind "
                                    f"0.0.0.0 (e.g. uvicorn --host 0.0.0.0) so HELM can reach it")
    listed = ", ".join(str(p) for p in sorted({p for _, p in sockets}))
    return out.add(name, False, f"wrong port: the server listens on {listed}, not "
                                f"{contract.port} (HELM and the organizers connect to port "
                                f"{contract.port})")


def check_server(docker_client, image: str, options, result: SmokeResult,
                 run=None) -> ServerResult:
    """`run` (smoke.own_code.OwnRun) adds env, mounts, failure classes, budget and memory."""
    contract = load_contract(options.contract)
    out = ServerResult(contract=contract.name, port=contract.port)
    run_id = uuid.uuid4().hex[:12]
    network = container = None
    started = time.monotonic()
    try:
        network = docker_client.networks.create(
            f"carpenter-smoke-{run_id}", driver="bridge",
            internal=not options.real_weights,
            labels=containers.labels(run_id))
        kwargs = {"network": network.name, "mem_limit": options.own_memory,
                  "memswap_limit": options.own_memory,
                  "labels": containers.labels(run_id)}
        if run is not None:
            kwargs.update(run.container_kwargs())
        container, fallback = create_and_start(docker_client, image, options.gpu,
                                                          kwargs)
        if fallback and not result.gpu_fallback:
            result.gpu_fallback = fallback
        address = container_ip(container, network.name)
        out.address = address
        if not address:
            out.add(f"server ready on port {contract.port}", False,
                    "the container got no address on the internal network")
            return out
        client = ContractClient(f"http://{address}:{contract.port}", contract.request_timeout_s)
        deadline = started + options.timeout
        if wait_ready(container, client, contract, out, deadline, started):
            check_contract(client.base_url, contract, out)
            if run is not None:
                run.after_contract(client, contract, out)
        if run is not None:
            run.finish(container, out, options.timeout)
        if any(c.failed for c in out.checks):
            out.log_tail = log_tail(container)
        return out
    finally:
        if container is not None:
            containers.remove_quietly(container)
        if network is not None:
            containers.remove_quietly(network)
