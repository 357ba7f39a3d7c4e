"""The rule language's front end: grammar, parser, positioned syntax tree and diagnostics."""

from cartwire.grammar.ast import RuleFile
from cartwire.grammar.diagnostics import Diagnostic
from cartwire.grammar.parser import RuleSyntaxError, parse_rules

__all__ = ["Diagnostic", "RuleFile", "RuleSyntaxError", "parse_rules"]
