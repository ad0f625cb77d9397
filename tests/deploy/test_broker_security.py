"""The shipped Mosquitto config, run for real: TLS, per-device credentials, ACL, queue limits.

The broker is started from deploy/mosquitto/gatepost.conf with only its paths
and ports moved into the test's directory; credentials and ACL come from
``gatepost provision``, certificates from deploy/mosquitto/make-certs.sh.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from central.provision import Provisioner, hash_password
from edge import wire
from edge.errors import ConfigError, GatepostError
from tests.support.secure_broker import Client, SecureBroker, make_certs, wait_until
from tests.support.services import MOSQUITTO, require

GATEPOST = str(Path(sys.executable).parent / "gatepost")


@pytest.fixture
def site(tmp_path: Path):
    require(MOSQUITTO is not None, "mosquitto")
    etc = tmp_path / "etc"
    make_certs(etc / "tls")
    prov = Provisioner(etc)
    creds = {
        "lane-a": prov.provision_device("site-1", "lane-a", role="entry"),
        "lane-b": prov.provision_device("site-1", "lane-b", role="exit"),
        "lane-x": prov.provision_device("site-2", "lane-x", role="entry"),
        "central": prov.provision_central(),
    }
    broker = SecureBroker(tmp_path / "broker", etc=etc)
    # start() waits on the loopback listener, opened together with the TLS one.
    broker.start()
    yield broker, creds, etc
    broker.stop()


def test_device_publishes_only_under_its_own_prefix(site):
    broker, creds, etc = site
    central = Client(broker, etc, "central.ops", creds["central"].password, tls=False)
    assert central.wait_connected()
    central.subscribe("gatepost/v1/#")
    own = wire.event_topic("site-1", "lane-a", "vehicle_arrived")
    as_b = wire.event_topic("site-1", "lane-b", "vehicle_arrived")
    other_site = wire.event_topic("site-2", "lane-x", "vehicle_arrived")
    # A denied publish is dropped, and Mosquitto may also drop the connection:
    # so each attempt gets a fresh one, and only delivery is judged.
    for topic in (
        as_b,
        other_site,
        wire.cmd_topic("site-1", "lane-b", "raise"),
        wire.config_topic("site-1", "tariff"),
    ):
        attacker = Client(broker, etc, "lane-a", creds["lane-a"].password)
        assert attacker.wait_connected()
        # The broker's PUBACK (or its dropping the connection) says it has dealt with the publish.
        with contextlib.suppress(RuntimeError):
            attacker.client.publish(topic, b"{}", qos=1).wait_for_publish(15)
        attacker.close()
    lane_a = Client(broker, etc, "lane-a", creds["lane-a"].password)
    assert lane_a.wait_connected()
    lane_a.client.publish(own, b"{}", qos=1).wait_for_publish(15)
    # Sync point: the allowed publish came after every denied one, and the broker delivers
    # to central's one connection in order, so once it is in anything let through would be too.
    assert wait_until(lambda: any(t == own for t, _ in central.messages))
    topics = [t for t, _ in central.messages]
    assert as_b not in topics and other_site not in topics
    assert not any("/cmd/" in t or "/config/" in t for t in topics)
    lane_a.close()
    central.close()


def test_device_reads_only_its_own_commands_and_its_sites_config(site):
    broker, creds, etc = site
    lane_a = Client(broker, etc, "lane-a", creds["lane-a"].password)
    assert lane_a.wait_connected()
    lane_a.subscribe("gatepost/v1/#")  # asks for everything; the ACL filters
    central = Client(broker, etc, "central.ops", creds["central"].password, tls=False)
    assert central.wait_connected()
    mine = wire.cmd_topic("site-1", "lane-a", "raise")
    for topic in (
        wire.cmd_topic("site-1", "lane-b", "raise"),
        wire.config_topic("site-2", "tariff"),
        wire.config_topic("site-1", "tariff"),
        mine,
    ):
        central.client.publish(topic, b"{}", qos=1).wait_for_publish(15)
    # Sync point: ``mine`` was published last on central's one connection, and the broker keeps
    # that order to lane-a: once it is in, any other it was allowed to get is in too.
    assert wait_until(lambda: any(t == mine for t, _ in lane_a.messages))
    assert sorted(t for t, _ in lane_a.messages) == sorted(
        [mine, wire.config_topic("site-1", "tariff")]
    )
    lane_a.close()
    central.close()


def test_wrong_password_anonymous_and_plaintext_are_refused(site):
    broker, creds, etc = site
    wrong = Client(broker, etc, "lane-a", "not-the-password")
    anonymous = Client(broker, etc, None, None)
    # Judged on the broker's answer (a refusing CONNACK), not on a quiet moment.
    assert wait_until(lambda: wrong.rc is not None and anonymous.rc is not None), "no CONNACK"
    assert wrong.rc.is_failure and anonymous.rc.is_failure
    assert not wrong.connected.is_set() and not anonymous.connected.is_set()
    wrong.close()
    anonymous.close()
    # The device port speaks TLS only: a plaintext client never gets a CONNACK.
    plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    plain.username_pw_set("lane-a", creds["lane-a"].password)
    got, dropped = threading.Event(), threading.Event()
    plain.on_connect = lambda *a: got.set()
    plain.on_disconnect = lambda *a: dropped.set()
    try:
        plain.connect("127.0.0.1", broker.tls_port, keepalive=5)
        plain.loop_start()
        # Sync point: the broker hangs up on the plaintext CONNECT (a failed TLS handshake).
        assert dropped.wait(15), "the TLS port kept a plaintext connection open"
        assert not got.is_set()
    except OSError:
        pass
    finally:
        plain.loop_stop()


def test_a_backlog_larger_than_mosquittos_default_queue_survives(site):
    """The default max_queued_messages (1000) would drop most of this silently."""
    broker, creds, etc = site
    sub = Client(
        broker,
        etc,
        "central.ingest-0",
        creds["central"].password,
        tls=False,
        client_id="central.ingest-0",
        clean=False,
    )
    assert sub.wait_connected()
    sub.subscribe("gatepost/v1/+/+/event/+")
    sub.close()  # offline with a persistent session: the broker queues for it

    lane = Client(broker, etc, "lane-a", creds["lane-a"].password)
    assert lane.wait_connected()
    topic = wire.event_topic("site-1", "lane-a", "vehicle_arrived")
    burst = 3000
    infos = [lane.client.publish(topic, str(i).encode(), qos=1) for i in range(burst)]
    for info in infos:
        info.wait_for_publish(10)
    lane.close()

    back = Client(
        broker,
        etc,
        "central.ingest-0",
        creds["central"].password,
        tls=False,
        client_id="central.ingest-0",
        clean=False,
    )
    assert back.wait_connected()
    assert wait_until(lambda: len(back.messages) >= burst, timeout=20)
    assert sorted(int(p) for _, p in back.messages) == list(range(burst))
    back.close()


def test_provision_refuses_to_overwrite_credentials_without_force(tmp_path: Path):
    prov = Provisioner(tmp_path)
    first = prov.provision_device("site-1", "lane-a", role="entry")
    assert first.site_key_created
    with pytest.raises(GatepostError, match="--force"):
        prov.provision_device("site-1", "lane-a", role="entry")
    again = prov.provision_device("site-1", "lane-a", role="entry", force=True)
    assert again.password != first.password and not again.site_key_created
    passwd = (tmp_path / "mosquitto" / "passwd").read_text()
    assert passwd.count("lane-a:") == 1 and first.password not in passwd
    assert oct((tmp_path / "keys" / "site-1.toml").stat().st_mode & 0o777) == "0o600"
    acl = (tmp_path / "mosquitto" / "acl").read_text()
    assert acl.count("user lane-a") == 1


@pytest.mark.parametrize(
    "site_id, device", [("Site 1", "lane-a"), ("site-1", "lane/a"), ("site-1", "central")]
)
def test_provision_refuses_ids_that_would_break_topics(tmp_path: Path, site_id: str, device: str):
    with pytest.raises(ConfigError):
        Provisioner(tmp_path).provision_device(site_id, device, role="entry")
    assert not (tmp_path / "mosquitto" / "passwd").exists()


def test_password_hash_matches_mosquitto_passwd_format():
    hashed = hash_password("secret", salt=bytes(12))
    assert hashed.startswith("$7$101$AAAAAAAAAAAAAAAA$")


def test_provision_cli_prints_where_things_went(tmp_path: Path):
    out = subprocess.run(
        [GATEPOST, "provision", "lane-9", "--site", "site-1", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "lane-9" in out.stdout and (tmp_path / "devices" / "lane-9.toml").exists()
    again = subprocess.run(
        [GATEPOST, "provision", "lane-9", "--site", "site-1", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 2 and "--force" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize("role", ["entry", "exit", "kiosk"])
def test_provisioned_skeleton_is_a_valid_config_with_the_site_key(tmp_path: Path, role: str):
    """What `gatepost provision` writes loads as it is, and its key file is the shape [keys] file = … reads."""
    from edge.config import load_config
    from edge.config.schema import KeysSection

    prov = Provisioner(tmp_path)
    done = prov.provision_device("site-9", "dev-1", role=role)
    assert done.site_key_created
    assert done.config_path is not None  # a device (unlike a central login) gets a config file
    tariff = (
        Path(__file__).resolve().parents[2] / "firmware_configs" / "tariffs" / "day_night_cn.toml"
    )
    text = done.config_path.read_text().replace("/etc/gatepost/tariff.toml", str(tariff))
    text = text.replace("/etc/gatepost/keys/", f"{tmp_path}/keys/")
    done.config_path.write_text(text)
    config = load_config(done.config_path)
    assert (config.device.site, config.device.id, config.device.role) == ("site-9", "dev-1", role)
    assert config.link.tls is not None and config.link.username == "dev-1"
    keys = KeysSection(file=str(tmp_path / "keys" / "site-9.toml")).resolve()
    assert list(keys) == ["1"] and len(bytes.fromhex(keys["1"])) == 32
    assert oct((tmp_path / "keys" / "site-9.toml").stat().st_mode & 0o777) == "0o600"
    assert not prov.provision_device("site-9", "dev-2", role=role).site_key_created
