"""Each fixer on hand-made findings (the rules are tested in tests/scan)."""

from __future__ import annotations

import subprocess

import pytest

from .helpers import (
    DIGEST,
    SECRET,
    SHA,
    after,
    apply,
    bundled,
    finding,
    fix_dir,
    fix_fake,
    submission,
)


def test_pip_keeps_quotes_extras_markers_and_option_order(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\nRUN pip install --no-cache-dir "
                    "\"datasets[audio]>=2.0; python_version>'3.8'\" -U peft \\\n"
                    "    --extra-index-url https://x\n")
    spec = "datasets[audio]>=2.0; python_version>'3.8'"
    report = fix_fake(df, [finding(df, "unpinned-pip", spec),
                           finding(df, "unpinned-pip", "peft", name="peft")])
    assert after(report, df) == ("FROM python:3.10-slim\nRUN pip install --no-cache-dir "
                                 "\"datasets[audio]==2.14.6; python_version>'3.8'\" -U "
                                 "peft==0.5.0 \\\n    --extra-index-url https://x\n")


def test_unquoted_comparison_shell_bug_is_fixed_with_the_pin(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\nRUN pip install torch>=2.0.1 && echo ok\n")
    report = fix_fake(df, [finding(df, "unpinned-pip", "torch")])
    assert after(report, df).endswith("RUN pip install torch==2.1.0 && echo ok\n")


def test_unknown_package_and_conflicting_range_are_skipped_with_reasons(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\nRUN pip install left-pad 'torch<2'\n")
    report = fix_fake(df, [finding(df, "unpinned-pip", "left-pad"),
                           finding(df, "unpinned-pip", "'torch<2'")])
    reasons = sorted(r.reason for r in report.skipped)
    assert "left-pad: not in snapshot test-snap" in reasons
    assert any("no version inside <2 known on 2023-10-25" in r for r in reasons)
    assert report.diff() == "" and report.exit_code() == 1


def test_override_pins_pydantic_1_next_to_deepspeed(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\nRUN pip install deepspeed pydantic\n")
    report = fix_fake(df, [finding(df, "unpinned-pip", "deepspeed"),
                           finding(df, "unpinned-pip", "pydantic")])
    assert "deepspeed==0.11.1 pydantic==1.10.13" in after(report, df)
    assert any("override:ds" in r.summary for r in report.applied)


def test_requirements_file_keeps_comments_options_and_hashes(tmp_path):
    req = ("# top comment\n--index-url https://pypi.org/simple\n"
           "transformers>=4.30  # the model\n"
           "peft ; python_version >= \"3.8\" \\\n    --hash=sha256:" + "a" * 64 + "\n"
           "accelerate==0.24.1 --hash=sha256:" + "b" * 64 + "\n")
    df = submission(tmp_path, "FROM python:3.10-slim\nCOPY requirements.txt .\n"
                    "RUN pip install -r requirements.txt\n", **{"requirements.txt": req})
    rf = tmp_path / "requirements.txt"
    report = fix_fake(df, [finding(rf, "unpinned-pip", "transformers>=4.30"),
                           finding(rf, "unpinned-pip", "peft")])
    new = after(report, rf)
    assert new.splitlines()[:3] == ["# top comment", "--index-url https://pypi.org/simple",
                                    "transformers==4.34.1  # the model"]
    assert "accelerate==0.24.1 --hash=sha256:" + "b" * 64 in new
    # an unpinned line with hashes cannot be pinned without new hashes
    assert any("hashes would no longer match" in r.reason for r in report.skipped)


def test_from_gets_a_digest_and_keeps_its_tag(tmp_path):
    df = submission(tmp_path, "FROM --platform=linux/amd64 nvidia/cuda:12.1.0-devel-ubuntu22.04 "
                    "AS build\nFROM build\nFROM alpine:3.18\n")
    cuda = "nvidia/cuda:12.1.0-devel-ubuntu22.04"
    report = fix_fake(df, [finding(df, "floating-base-image", cuda),
                           finding(df, "floating-base-image", "alpine:3.18")])
    assert after(report, df).splitlines()[0] == (
        f"FROM --platform=linux/amd64 nvidia/cuda:12.1.0-devel-ubuntu22.04@{DIGEST} AS build")
    assert any("no digest for alpine:3.18" in r.reason for r in report.skipped)


def test_from_an_arg_pins_the_arg_default(tmp_path):
    df = submission(tmp_path, "ARG BASE=python:3.10-slim\nFROM ${BASE}\nRUN true\n")
    report = fix_fake(df, [finding(df, "floating-base-image", "${BASE}")])
    assert after(report, df).startswith(f"ARG BASE=python:3.10-slim@{DIGEST}\nFROM ${{BASE}}\n")


def test_git_clone_and_vcs_requirement_are_pinned_to_the_commit(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    "RUN git clone --depth 1 https://github.com/huggingface/peft.git src && "
                    "pip install -e src\n"
                    "RUN pip install git+https://github.com/huggingface/peft@main#egg=peft\n")
    report = fix_fake(df, [finding(df, "unpinned-git", "https://github.com/huggingface/peft.git"),
                           finding(df, "unpinned-git", "git+https://github.com/huggingface/peft@main")])
    text = after(report, df)
    assert (f"git clone --depth 1 https://github.com/huggingface/peft.git src && git -C src fetch "
            f"--depth 1 origin {SHA} && git -C src checkout {SHA} && pip install -e src") in text
    assert f"pip install git+https://github.com/huggingface/peft@{SHA}#egg=peft" in text


def test_conda_gets_an_equals_version(tmp_path):
    df = submission(tmp_path, "FROM continuumio/miniconda3\n"
                    "RUN conda install -y -c pytorch pytorch 'python>=3.9' numpy\n")
    report = fix_fake(df, [finding(df, "unpinned-conda", "pytorch", 1),
                           finding(df, "unpinned-conda", "'python>=3.9'"),
                           finding(df, "unpinned-conda", "numpy")])
    # numpy is not in the test snapshot's PyPI table either: left alone
    assert "-c pytorch pytorch=2.1.0 'python=3.10.13' numpy\n" in after(report, df)
    assert any("numpy: no conda version" in r.reason for r in report.skipped)


def test_conda_falls_back_to_the_pypi_version_of_the_date(tmp_path):
    df = submission(tmp_path, "FROM continuumio/miniconda3\n"
                    "RUN conda install -y -c conda-forge transformers cudnn\n")
    report = fix_fake(df, [finding(df, "unpinned-conda", "transformers"),
                           finding(df, "unpinned-conda", "cudnn")])
    assert "conda-forge transformers=4.34.1 cudnn\n" in after(report, df)
    assert "PyPI version of the snapshot date" in report.applied[0].summary


def test_apt_sources_are_frozen_once_per_stage_above_the_comment_block(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\nWORKDIR /app\n# hadolint ignore=DL3008\n"
                    "RUN apt-get update && apt-get install -y git curl\n"
                    "FROM nvidia/cuda:12.1.0-devel-ubuntu22.04\nRUN apt-get update && "
                    "apt-get install -y vim\n")
    report = fix_fake(df, [finding(df, "unpinned-apt", "git"), finding(df, "unpinned-apt", "curl"),
                           finding(df, "unpinned-apt", "vim")])
    lines = after(report, df).splitlines()
    assert lines[2].startswith("# apt sources frozen at 2023-10-25")
    assert "snapshot.debian.org/archive/debian/20231025T000000Z" in lines[3]
    assert lines[4] == "# hadolint ignore=DL3008"
    assert "snapshot.ubuntu.com/ubuntu/20231025T000000Z" in lines[8]
    assert len(report.applied) == 3 and after(report, df).count("99snapshot") == 2


def test_apt_sources_command_really_rewrites_debian_sources(tmp_path):
    """Run the inserted command (paths redirected) with the real shell and sed."""
    from carpenter.fix.apt import sources_command

    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\n"
                       "Types: deb\nURIs: http://deb.debian.org/debian-security\n")
    cmd = sources_command("debian", "https://snapshot.debian.org/archive/debian/T",
                          "https://snapshot.debian.org/archive/debian-security/T")
    cmd = cmd.removeprefix("RUN ").replace(
        "/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources",
        str(sources)).replace("/etc/apt/apt.conf.d/99snapshot", str(tmp_path / "conf"))
    subprocess.run(["sh", "-c", cmd], check=True)
    assert sources.read_text().splitlines()[1::4] == [
        "URIs: http://snapshot.debian.org/archive/debian/T/",
        "URIs: http://snapshot.debian.org/archive/debian-security/T/"]
    assert (tmp_path / "conf").read_text().strip() == 'Acquire::Check-Valid-Until "false";'


def test_env_secret_moves_to_a_secret_mount_and_never_shows(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    f"ENV HF_TOKEN={SECRET}\n"
                    "RUN pip install huggingface_hub==0.17.3\n"
                    "RUN python -c \"import huggingface_hub\" && echo $HF_TOKEN | wc -c\n")
    report = fix_fake(df, [finding(df, "secret", SECRET)])
    text = after(report, df)
    assert SECRET not in text and "ENV HF_TOKEN" not in text
    assert ("RUN --mount=type=secret,id=hf_token export HF_TOKEN=\"$(cat /run/secrets/hf_token)\""
            " && python -c") in text
    assert "RUN pip install huggingface_hub==0.17.3\n" in text  # no consumer, untouched
    diff = report.diff()
    # the shape mask (prefix, 4 characters, fingerprint) wins over the plain value mask
    assert f"-ENV HF_TOKEN={SECRET[:7]}...(" in diff and SECRET not in diff
    assert report.build_flags == ["--secret id=hf_token,env=HF_TOKEN"]
    assert any("rotate" in n for n in report.notes)


def test_secret_on_a_command_line_becomes_a_variable(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    f"RUN huggingface-cli login --token {SECRET} && python train.py\n")
    report = fix_fake(df, [finding(df, "secret", SECRET)])
    text = after(report, df)
    assert text.endswith('RUN --mount=type=secret,id=hf_token export HF_TOKEN="$(cat '
                         '/run/secrets/hf_token)" && huggingface-cli login --token ${HF_TOKEN} '
                         '&& python train.py\n')
    assert any("login" in n for n in report.notes)


def test_one_of_several_env_pairs_is_removed(tmp_path):
    df = submission(tmp_path, f"FROM python:3.10-slim\nENV A=1 HF_TOKEN={SECRET} B=2\n")
    text = after(fix_fake(df, [finding(df, "secret", SECRET)]), df)
    assert "ENV A=1 B=2\n" in text


def test_cuda_build_uses_the_prebuilt_wheel_when_the_tuple_matches(tmp_path):
    df = submission(tmp_path, "FROM nvidia/cuda:12.1.0-devel-ubuntu22.04\n"
                    "RUN pip install torch==2.1.0\n"
                    "RUN pip install flash-attn --no-build-isolation\n")
    report = fix_fake(df, [finding(df, "cuda-source-build", "flash-attn"),
                           finding(df, "unpinned-pip", "flash-attn")])
    assert ("RUN pip install https://github.com/Dao-AILab/flash-attention/releases/download/"
            "v2.3.3/flash_attn-2.3.3+cu121torch2.1cxx11abiFALSE-cp310-cp310-linux_x86_64.whl "
            "--no-build-isolation") in after(report, df)
    assert [r.status for r in report.records] == ["applied", "applied"]  # pip one is covered


def test_cuda_build_without_a_wheel_pins_and_caps_jobs(tmp_path):
    df = submission(tmp_path, "FROM python:3.11-slim\nRUN pip install 'flash-attn>=2'\n")
    report = fix_fake(df, [finding(df, "cuda-source-build", "'flash-attn>=2'")])
    assert "RUN MAX_JOBS=4 pip install 'flash-attn==2.3.3'\n" in after(report, df)
    assert any("compiles from source" in n for n in report.notes)


def test_download_gets_a_revision_when_the_snapshot_knows_it(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    "RUN huggingface-cli download org/model --local-dir /m\n"
                    "RUN python -c \"from transformers import AutoModel; "
                    "AutoModel.from_pretrained('org/model', torch_dtype='auto')\"\n"
                    "RUN huggingface-cli download other/model\n")
    report = fix_fake(df, [finding(df, "build-time-download", "org/model"),
                           finding(df, "build-time-download", "from_pretrained"),
                           finding(df, "build-time-download", "other/model")])
    text = after(report, df)
    assert f"download org/model --revision {SHA} --local-dir /m" in text
    assert f"from_pretrained('org/model', torch_dtype='auto', revision='{SHA}')" in text
    assert any("no revision for other/model" in r.reason for r in report.skipped)


def test_host_local_artifacts_are_reported_not_fixed(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\nCOPY /home/me/model.bin /m\n")
    f = finding(df, "host-local-artifact", "/home/me/model.bin")
    f.message = "COPY source /home/me/model.bin is not in the build context"
    report = fix_fake(df, [f])
    assert report.skipped[0].reason == ("cannot be fixed automatically: COPY source "
                                        "/home/me/model.bin is not in the build context")


@pytest.mark.parametrize("category", ["unpinned-pip", "floating-base-image", "secret"])
def test_fixes_never_touch_other_instructions(tmp_path, category):
    body = ("# syntax-free comment\nFROM python:3.10-slim\nLABEL a=b \\\n    c=d\n"
            f"ENV HF_TOKEN={SECRET}\nRUN pip install peft\nCOPY <<EOF /x\nhello\nEOF\n")
    df = submission(tmp_path, body)
    needle = {"unpinned-pip": "peft", "floating-base-image": "python:3.10-slim",
              "secret": SECRET}[category]
    new = after(fix_fake(df, [finding(df, category, needle)]), df)
    for unchanged in ("# syntax-free comment\n", "LABEL a=b \\\n    c=d\n",
                      "COPY <<EOF /x\nhello\nEOF\n"):
        assert unchanged in new


def test_a_later_checkout_of_a_tag_is_replaced_by_the_commit(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    "RUN git clone https://github.com/huggingface/peft /peft && cd /peft && "
                    "git checkout v0.5.0 && pip install .\n")
    report = fix_fake(df, [finding(df, "unpinned-git", "https://github.com/huggingface/peft")])
    assert f"cd /peft && git checkout {SHA} && pip install ." in after(report, df)


def test_cuda_build_from_a_clone_becomes_the_wheel(tmp_path):
    df = submission(tmp_path, "FROM nvidia/cuda:12.1.0-devel-ubuntu22.04\n"
                    "RUN pip install torch==2.1.0\n"
                    "RUN git clone https://github.com/Dao-AILab/flash-attention /fa "
                    "&& pip install -e /fa --no-build-isolation\n")
    report = fix_fake(df, [finding(df, "cuda-source-build", "/fa --", package="flash-attn")])
    assert ("&& pip install https://github.com/Dao-AILab/flash-attention/releases/download/"
            "v2.3.3/flash_attn-2.3.3+cu121torch2.1cxx11abiFALSE-cp310-cp310-linux_x86_64.whl "
            "--no-build-isolation\n") in after(report, df)


def test_the_last_of_several_pairs_keeps_the_line_end(tmp_path):
    df = submission(tmp_path, f"FROM python:3.10-slim\nARG A=1 HF_TOKEN={SECRET}\nWORKDIR /app\n")
    assert after(fix_fake(df, [finding(df, "secret", SECRET)]), df) == (
        "FROM python:3.10-slim\nARG A=1\nWORKDIR /app\n")


def test_arg_copied_into_env_moves_to_a_mount_without_masking_code(tmp_path):
    """The NeurIPS 2023 starter-kit shape: ARG + ENV NAME=$NAME (SEC005, no literal value)."""
    df = submission(tmp_path, "FROM python:3.10-slim\nARG HUGGINGFACE_TOKEN\n"
                    "ENV HUGGINGFACE_TOKEN=$HUGGINGFACE_TOKEN\nRUN python download.py\n")
    report = fix_fake(df, [
        finding(df, "secret", "HUGGINGFACE_TOKEN", 0, secret_kind="placeholder",
                variable="HUGGINGFACE_TOKEN"),
        finding(df, "secret", "HUGGINGFACE_TOKEN=$HUGGINGFACE_TOKEN",
                secret_kind="placeholder", variable="HUGGINGFACE_TOKEN")])
    assert after(report, df) == (
        "FROM python:3.10-slim\nRUN --mount=type=secret,id=huggingface_token export "
        "HUGGINGFACE_TOKEN=\"$(cat /run/secrets/huggingface_token)\" && python download.py\n")
    assert "-ENV HUGGINGFACE_TOKEN=$HUGGINGFACE_TOKEN" in report.diff()  # nothing to mask
    assert len(report.applied) == 2


def test_a_moving_revision_is_replaced_by_the_snapshot_commit(tmp_path):
    df = submission(tmp_path, "FROM python:3.10-slim\n"
                    "RUN huggingface-cli download --revision main org/model\n"
                    "RUN python -c \"from huggingface_hub import snapshot_download; "
                    "snapshot_download('org/model', revision='v1')\"\n")
    report = fix_fake(df, [finding(df, "build-time-download", "huggingface-cli"),
                           finding(df, "build-time-download", "snapshot_download('")])
    text = after(report, df)
    assert f"download --revision {SHA} org/model\n" in text
    assert f"snapshot_download('org/model', revision='{SHA}')" in text


def test_two_secrets_share_one_mount_edit_per_run(tmp_path):
    wandb = "0123456789abcdef0123456789abcdef01234567"
    df = submission(tmp_path, f"FROM python:3.10-slim\nENV HF_TOKEN={SECRET}\n"
                    f"ENV WANDB_API_KEY={wandb}\nRUN python train.py\n")
    report = fix_fake(df, [finding(df, "secret", SECRET),
                           finding(df, "secret", wandb, variable="WANDB_API_KEY")])
    assert [r.status for r in report.records] == ["applied", "applied"]
    assert after(report, df) == (
        "FROM python:3.10-slim\nRUN --mount=type=secret,id=hf_token "
        "--mount=type=secret,id=wandb_api_key export HF_TOKEN=\"$(cat /run/secrets/hf_token)\" "
        "&& export WANDB_API_KEY=\"$(cat /run/secrets/wandb_api_key)\" && python train.py\n")
    assert wandb not in report.diff() and SECRET not in report.diff()


def test_apt_line_goes_below_parser_directives(tmp_path):
    df = submission(tmp_path, "# syntax=docker/dockerfile:1\n# escape=\\\n# a note\n"
                    "FROM debian:bookworm\n# install\n"
                    "RUN apt-get update && apt-get install -y git\n")
    lines = after(fix_fake(df, [finding(df, "unpinned-apt", "git")]), df).splitlines()
    assert lines[:2] == ["# syntax=docker/dockerfile:1", "# escape=\\"]
    assert lines[4].startswith("# apt sources frozen") and lines[6] == "# install"


def test_two_secrets_and_a_cuda_build_before_one_command_compose_once(tmp_path):
    token = SECRET
    (tmp_path / "Dockerfile").write_text(
        "FROM pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime\n"
        f"ENV HF_TOKEN={token}\nARG WANDB_API_KEY={token}\n"
        "RUN python3 -m pip install Flash_Attn\n")
    report = fix_dir(tmp_path, bundled())
    apply(report)
    run_line = (tmp_path / "Dockerfile").read_text().splitlines()[-1]
    assert run_line.count("export HF_TOKEN=") == 1, run_line
    assert run_line.count("export WANDB_API_KEY=") == 1, run_line
    assert run_line.index("export") < run_line.index("MAX_JOBS=4 python3")
    assert [f for f in fix_dir(tmp_path, bundled()).files if f.changed] == []  # idempotent
