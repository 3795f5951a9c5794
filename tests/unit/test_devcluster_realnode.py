"""Pure parts of the real node and the dev volume provisioner (tools/botfleet_tools/devcluster)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from botfleet_tools.devcluster import provisioner, realnode


def claim(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "arb", "namespace": "ns1", "uid": "0f8fad5b-d9cb-469f-a165-70867728950e",
                         "annotations": {"volume.kubernetes.io/storage-provisioner": provisioner.PROVISIONER_NAME}},
            "spec": {"storageClassName": "botfleet-local", "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "2Gi"}}, **spec},
            "status": {"phase": "Pending"}}


def test_volume_for_a_pending_claim_of_the_class() -> None:
    pv = provisioner.volume_for(claim(), Path("/v"), "botfleet-local")
    assert pv is not None
    assert pv["metadata"]["name"] == "pvc-0f8fad5b-d9cb-469f-a165-70867728950e"
    assert pv["spec"]["capacity"] == {"storage": "2Gi"}
    assert pv["spec"]["hostPath"]["path"] == "/v/pvc-0f8fad5b-d9cb-469f-a165-70867728950e"
    assert pv["spec"]["claimRef"] == {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "ns1",
                                      "name": "arb", "uid": "0f8fad5b-d9cb-469f-a165-70867728950e"}
    assert pv["spec"]["storageClassName"] == "botfleet-local"
    assert "nodeAffinity" not in pv["spec"]  # no node chosen: an Immediate class of another cluster


def test_volume_is_pinned_to_the_node_the_scheduler_chose() -> None:
    # WaitForFirstConsumer: the scheduler names the node on the claim; a host directory exists there only.
    pending = claim()
    pending["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] = "botfleet-node-2"
    pv = provisioner.volume_for(pending, Path("/v"), "botfleet-local")
    assert pv is not None
    assert pv["spec"]["nodeAffinity"] == {"required": {"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": ["botfleet-node-2"]}]}]}}


def test_claims_not_ours_are_left_alone() -> None:
    assert provisioner.volume_for(claim(storageClassName="other"), Path("/v"), "botfleet-local") is None
    assert provisioner.volume_for(claim(storageClassName=None), Path("/v"), "botfleet-local") is None
    assert provisioner.volume_for(claim(volumeName="pv-x"), Path("/v"), "botfleet-local") is None
    bound = claim()
    bound["status"]["phase"] = "Bound"
    assert provisioner.volume_for(bound, Path("/v"), "botfleet-local") is None
    # Not (yet) handed over by the PV controller: an existing volume may take it.
    unannounced = claim()
    unannounced["metadata"]["annotations"] = {}
    assert provisioner.volume_for(unannounced, Path("/v"), "botfleet-local") is None
    other = claim()
    other["metadata"]["annotations"] = {"volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com"}
    assert provisioner.volume_for(other, Path("/v"), "botfleet-local") is None


def test_a_volume_is_made_once_per_claim() -> None:
    # Made on an earlier pass but not bound yet (the PV controller binds one claim at a time): not
    # posted again; the other pending claim of the class gets its volume.
    first, second = claim(), claim()
    second["metadata"] = {**second["metadata"], "name": "arb2", "uid": "1f8fad5b-d9cb-469f-a165-70867728950e"}
    made = provisioner.volumes_to_make([first, second], {"pvc-0f8fad5b-d9cb-469f-a165-70867728950e"},
                                       Path("/v"), "botfleet-local")
    assert [v["metadata"]["name"] for v in made] == ["pvc-1f8fad5b-d9cb-469f-a165-70867728950e"]
    assert provisioner.volumes_to_make([first, claim(storageClassName="other")], set(), Path("/v"),
                                       "botfleet-local") == [provisioner.volume_for(first, Path("/v"), "botfleet-local")]


def test_storage_class_is_the_default() -> None:
    sc = provisioner.storage_class()
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["provisioner"] == provisioner.PROVISIONER_NAME
    # As kind's and the clouds' default classes: a pod is scheduled first, its claim bound after
    # (an Immediate class made every new pod fail scheduling while its claim bound).
    assert sc["volumeBindingMode"] == "WaitForFirstConsumer"


def test_node_addresses_do_not_overlap_between_indices() -> None:
    a, b = realnode.NodeNet(1), realnode.NodeNet(2)
    assert (a.host_ip, a.node_ip, a.pod_cidr) == ("10.213.1.1", "10.213.1.2", "10.214.1.0/24")
    assert {a.netns, a.host_if, a.node_if}.isdisjoint({b.netns, b.host_if, b.node_if})
    assert a.pod_cidr != b.pod_cidr


def test_containerd_config_keeps_everything_under_the_node_dir(tmp_path: Path) -> None:
    text = realnode.containerd_config(tmp_path, str(tmp_path / "c.sock"), "localhost/p:1", tmp_path / "cni")
    cfg = tomllib.loads(text)
    assert cfg["version"] == 2
    assert cfg["root"].startswith(str(tmp_path)) and cfg["state"].startswith(str(tmp_path))
    assert cfg["grpc"]["address"] == str(tmp_path / "c.sock")
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "localhost/p:1"
    assert cri["restrict_oom_score_adj"] is True
    assert cri["cni"] == {"bin_dir": "/usr/lib/cni", "conf_dir": str(tmp_path / "cni")}
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False


def test_cni_bridge_uses_the_node_pod_range(tmp_path: Path) -> None:
    conf = realnode.cni_conflist(realnode.NodeNet(7), tmp_path)
    bridge = conf["plugins"][0]  # type: ignore[index]
    assert bridge["type"] == "bridge"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.214.7.0/24"}]]
    assert bridge["ipam"]["dataDir"] == str(tmp_path / "cni-ipam")
