"""Deterministic synthetic corpora (private, facts, multilingual facts, tasks) and the tokenizer trained on them."""

from arx.data.facts import Fact, FactSet, evaluate_facts, fact_set, object_ranks, rank_metrics
from arx.data.multilingual import Language, MultilingualCorpus, multilingual_corpus
from arx.data.private import PrivateCorpus, private_corpus
from arx.data.tasks import Task, TaskSuite, evaluate_task, exact_match, greedy_correct, task_suite
from arx.data.tokenizer import train_tokenizer

__all__ = ["Fact", "FactSet", "Language", "MultilingualCorpus", "PrivateCorpus", "Task", "TaskSuite",
           "evaluate_facts", "evaluate_task", "exact_match", "fact_set", "greedy_correct", "multilingual_corpus",
           "object_ranks", "private_corpus", "rank_metrics", "task_suite", "train_tokenizer"]
