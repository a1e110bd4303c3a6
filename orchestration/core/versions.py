"""Agent versions and version constraints, compared as versions, never as strings.

Constraints are PEP 440 specifier sets (``">=2.0,<3"``, ``"==2.1.*"``, ``"~=2.1"``,
``"!=2.0.3"``); a bare version (``"2.1.0"``) means ``"==2.1.0"``. Versions may be PEP 440
(``2.1.0``, ``2.1.0rc1``) or semver-ish (``1.0.0-rc1``, ``1.0.0-alpha.2``, ``2.0.0+build.7``),
which are normalised to PEP 440 first. A semver pre-release label PEP 440 does not know
(``1.0.0-snapshot``) becomes a dev release with that label as its local part
(``1.0.0.dev0+snapshot``): it still sorts before ``1.0.0``, as semver says.

Pre-releases (``rc``, ``a``, ``b``, dev) match a constraint only when the constraint itself
names a pre-release (``">=2.1.0rc1"``): asking for ``">=2.0"`` never routes work to a release
candidate. This holds whatever the installed ``packaging`` version's default is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from orchestration.core.exceptions import ValidationError

__all__ = ["VersionConstraint", "parse_constraint", "parse_version", "satisfies"]

FIELD = "version_constraint"

_SEMVER_ISH = re.compile(r"^v?(?P<release>\d+(?:\.\d+)*)(?P<rest>.*)$", re.IGNORECASE)
_CLAUSE = re.compile(r"^\s*(?P<op>~=|===|==|!=|<=|>=|<|>)\s*(?P<version>\S+?)(?P<wild>\.\*)?\s*$")


def parse_version(value: str) -> Version:
    """Parse a PEP 440 or semver-ish version.

    Raises:
        ValidationError: ``value`` does not start with a numeric release such as ``2.1``;
            ``errors`` names the ``version`` field.
    """
    if not isinstance(value, str):
        problem = f"must be a string such as 2.1.0 (got {type(value).__name__})"
        raise ValidationError.about("version", problem)
    return _parse_version(value)


@lru_cache(maxsize=4096)
def _parse_version(value: str) -> Version:
    text = value.strip()
    try:
        return Version(text)
    except InvalidVersion:
        pass
    match = _SEMVER_ISH.match(text)
    if match is not None:
        # Keep the label as the local part: alphanumeric segments joined by dots.
        label = ".".join(part for part in re.split(r"[^0-9A-Za-z]+", match["rest"]) if part)
        normalised = f"{match['release']}.dev0+{label}" if label else match["release"]
        try:
            return Version(normalised)
        except InvalidVersion:
            pass
    problem = f"{value!r} is not a version such as 2.1.0, 2.1.0rc1 or 1.0.0-rc1"
    raise ValidationError.about("version", problem)


@dataclass(frozen=True, slots=True)
class VersionConstraint:
    """A parsed version constraint.

    Attributes:
        text: the constraint as given.
        specifiers: the PEP 440 specifier set it was normalised to.
    """

    text: str
    specifiers: SpecifierSet

    def allows(self, version: str | Version) -> bool:
        """Whether ``version`` satisfies the constraint (pre-releases only when it names one).

        A version that cannot be parsed satisfies no constraint.
        """
        if isinstance(version, str):
            try:
                version = parse_version(version)
            except ValidationError:
                return False
        allow_pre = self.specifiers.prereleases is True
        return self.specifiers.contains(version, prereleases=allow_pre)

    def __str__(self) -> str:
        return str(self.specifiers)


def _invalid(constraint: object, problem: str) -> ValidationError:
    return ValidationError(
        f"{FIELD} {constraint!r} {problem}", errors=[{"field": FIELD, "problem": problem}]
    )


def _normalise_clause(clause: str) -> str:
    try:
        Specifier(clause)
        return clause.strip()
    except InvalidSpecifier:
        pass
    match = _CLAUSE.match(clause)
    if match is None:
        try:
            # A bare version pins it exactly.
            return f"=={parse_version(clause)}"
        except ValidationError:
            raise InvalidSpecifier(clause) from None
    try:
        version = parse_version(match["version"])
    except ValidationError:
        raise InvalidSpecifier(clause) from None
    return f"{match['op']}{version}{match['wild'] or ''}"


def parse_constraint(constraint: str) -> VersionConstraint:
    """Parse a constraint such as ``">=2.0,<3"`` (see the module docstring).

    Raises:
        ValidationError: the constraint is empty or not a valid specifier set; ``errors``
            names the ``version_constraint`` field.
    """
    if not isinstance(constraint, str) or not constraint.strip():
        raise _invalid(constraint, "must be a non-empty constraint such as '>=2.0,<3'")
    return _parse_constraint(constraint)


@lru_cache(maxsize=1024)
def _parse_constraint(constraint: str) -> VersionConstraint:
    clauses = [clause for clause in constraint.split(",") if clause.strip()]
    try:
        specifiers = SpecifierSet(",".join(_normalise_clause(clause) for clause in clauses))
    except InvalidSpecifier:
        raise _invalid(
            constraint,
            "is not a valid version constraint: use PEP 440 operators such as "
            "'>=2.0,<3', '==2.1.*' or '~=2.1' (npm-style ^ and ~ are not supported)",
        ) from None
    return VersionConstraint(constraint, specifiers)


def satisfies(version: str | Version, constraint: str | VersionConstraint | None) -> bool:
    """Whether ``version`` satisfies ``constraint``; every version satisfies None.

    Raises:
        ValidationError: ``constraint`` is invalid (naming ``version_constraint``).
    """
    if constraint is None:
        return True
    if isinstance(constraint, str):
        constraint = parse_constraint(constraint)
    return constraint.allows(version)
