"""decide stage: policy YAML -> Policy; findings + recipients -> Verdict."""

from gateway.policy.decide import decide, explain
from gateway.policy.load import default_policy_dir, load_policy
from gateway.policy.model import Policy

__all__ = ["Policy", "decide", "default_policy_dir", "explain", "load_policy"]
