"""The rule table: every rule Carpenter has, by id, in one place.

Each rule is one module in this folder; the table maps its id to `"<module>:<class>"`, and
`carpenter.scan.registry.all_rules()` imports exactly these (no discovery), so adding a rule is
one line here. `tests/scan/rules/test_rule_table.py` fails when a module in this folder is
missing from the table, when an entry names the wrong class, or when the ids are out of order.
"""

from __future__ import annotations

# Kept in id order: this is the order of `carpenter rules`, SARIF `rules[]` and the scan.
RULE_TABLE: dict[str, str] = {
    "APT001": "apt001_unpinned_package:AptUnpinnedPackage",
    "APT002": "apt002_upgrade:AptUpgrade",
    "APT003": "apt003_ppa:AptPpa",
    "BK001": "bk001_buildkit_required:BuildkitRequired",
    "CON001": "con001_contract_no_cmd:ContractNoServer",
    "CON002": "con002_contract_port:ContractPort",
    "CON003": "con003_contract_endpoints:ContractEndpoints",
    "CONDA001": "conda001_unpinned_package:CondaUnpinnedPackage",
    "CONDA002": "conda002_unpinned_environment_file:CondaUnpinnedEnvironmentFile",
    "CTX001": "ctx001_copy_source_missing:CopySourceMissing",
    "CTX002": "ctx002_copy_source_dockerignored:CopySourceDockerignored",
    "CTX003": "ctx003_copy_source_not_committed:CopySourceNotCommitted",
    "CTX004": "ctx004_git_lfs_pointer:GitLfsPointer",
    "CTX005": "ctx005_uninitialised_submodule:UninitialisedSubmodule",
    "CTX006": "ctx006_absolute_host_path:AbsoluteHostPath",
    "CTX007": "ctx007_symlink_outside_context:SymlinkOutsideContext",
    "CTX008": "ctx008_copy_source_other_context:CopySourceOtherContext",
    "CTX009": "ctx009_context_not_fully_checked:ContextNotFullyChecked",
    "CTX010": "ctx010_dockerignore_invalid:DockerignoreInvalid",
    "CUDA001": "cuda001_cuda_extension_source_build:CudaExtensionSourceBuild",
    "CUDA002": "cuda002_cuda_compile_step:CudaCompileStep",
    "DF001": "df001_parse_error:ParseError",
    "DF002": "df002_unknown_instruction:UnknownInstruction",
    "DL001": "dl001_build_time_model_download:BuildTimeModelDownload",
    "DL002": "dl002_unpinned_url_download:UnpinnedUrlDownload",
    "DL003": "dl003_pipe_to_shell:PipeToShell",
    "DL004": "dl004_add_url_without_checksum:AddUrlWithoutChecksum",
    "GIT001": "git001_clone_unpinned:GitCloneUnpinned",
    "GIT002": "git002_pip_vcs_unpinned:PipVcsUnpinned",
    "GIT003": "git003_add_git_unpinned:AddGitUnpinned",
    "IMG001": "img001_floating_tag:FloatingBaseTag",
    "IMG002": "img002_no_digest:BaseImageWithoutDigest",
    "IMG003": "img003_unresolved_base:UnresolvedBaseImage",
    "PIP001": "pip001_unpinned_requirement:PipUnpinnedRequirement",
    "PIP002": "pip002_unpinned_requirements_file:PipUnpinnedRequirementsFile",
    "PIP003": "pip003_unpinned_project_dependency:PipUnpinnedProjectDependency",
    "PIP004": "pip004_third_party_index:PipThirdPartyIndex",
    "SEC001": "sec001_secret_in_dockerfile:SecretInDockerfile",
    "SEC002": "sec002_secret_in_context_file:SecretInContextFile",
    "SEC003": "sec003_token_file_in_context:TokenFileInContext",
    "SEC004": "sec004_secret_in_git_history:SecretInGitHistory",
    "SEC005": "sec005_secret_build_variable:SecretBuildVariable",
    "SEC006": "sec006_login_persists_token:LoginPersistsToken",
    "SH001": "sh001_unquoted_specifier:UnquotedSpecifierRedirect",
    "SH002": "sh002_placeholder_redirect:PlaceholderRedirect",
    "SH003": "sh003_comment_cuts_command:CommentCutsCommand",
    "SH004": "sh004_misspelled_option:MisspelledOption",
    "SH005": "sh005_exec_form_not_json:ExecFormNotJson",
    "SH006": "sh006_shell_parse_error:ShellParseError",
}
