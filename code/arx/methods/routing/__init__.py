"""Routing analysis of multilingual MoE models: routing statistics, Language Routing Isolation, RISE."""

from .isolation import isolation_curves, jaccard, js_divergence, top_expert_sets  # noqa: F401
from .rise import (  # noqa: F401
                   Selection,
                   TrainableSubnetwork,
                   depth_bands,
                   overlap_scores,
                   random_selection,
                   restrict_training,
                   specificity_scores,
                   tripartite_selection,
)
from .stats import MoELayer, RoutingError, RoutingStats, collect_routing, moe_layers  # noqa: F401
