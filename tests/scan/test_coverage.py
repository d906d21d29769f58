"""OS packages no advisory ecosystem covers are reported as unchecked, never as clean."""

from __future__ import annotations

from cargohold.scan.matching import coverage_problems
from cargohold.scan.model import NO_ADVISORY_SOURCE, OSInfo
from tests.scan.osv_data import DEBIAN_12, inventory, package


def test_an_unsupported_distribution_is_named_with_its_unchecked_packages() -> None:
    fedora = OSInfo("fedora", "39", pretty_name="Fedora Linux 39 (Container Image)")
    image = inventory(
        fedora,
        package("rpm", "bash", "5.2.21-1.fc39"),
        package("rpm", "openssl-libs", "1:3.1.1-4.fc39", source_name="openssl"),
        package("pypi", "requests", "2.31.0"),  # language packages are checked anyway
    )
    (problem,) = coverage_problems(image)
    assert problem.code == NO_ADVISORY_SOURCE and not problem.blocking
    assert problem.message == (
        "no vulnerability advisories are known for Fedora Linux 39 (Container Image): "
        "its 2 OS packages were listed but not checked"
    )
    image.problems.append(problem)
    assert coverage_problems(image) == []  # re-evaluations do not add it twice


def test_covered_distributions_and_images_without_os_packages_have_no_problem() -> None:
    assert coverage_problems(inventory(DEBIAN_12, package("deb", "libc6", "2.36-9"))) == []
    assert coverage_problems(inventory(None, package("npm", "lodash", "4.17.20"))) == []
    (unknown,) = coverage_problems(inventory(None, package("deb", "libc6", "2.36-9")))
    assert "an unknown OS" in unknown.message
