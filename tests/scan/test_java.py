"""Java archives: Maven coordinates from pom.properties, in jars, wars and the jars they nest."""

from __future__ import annotations

import zipfile
from pathlib import Path

from cargohold.scan import Inventory
from tests.scan.content import java_archive
from tests.scan.imagebuild import File, ImageSpec, image_inventory, whiteout
from tests.scan.trivy_compare import differences

LOG4J = ("org.apache.logging.log4j", "log4j-core", "2.14.1")
LOG4J_API = ("org.apache.logging.log4j", "log4j-api", "2.14.1")
JACKSON = ("com.fasterxml.jackson.core", "jackson-databind", "2.9.10.8")
SPRING = ("org.springframework", "spring-core", "5.3.17")
SHOP = ("com.example", "shop", "1.4.0")


def _inventory(tmp_path: Path, layers: list[list[File]]) -> Inventory:
    with differences(
        "Trivy cannot read jars offline: its jar analyzer needs the Java DB it downloads",
        trivy_cannot_read=True,
    ):
        return image_inventory(tmp_path, ImageSpec(layers=layers))


def _coordinates(inventory: Inventory) -> set[tuple[str, str, str]]:
    return {(p.name, p.version, p.location) for p in inventory.packages}


def test_jar_war_and_nested_jars(tmp_path: Path) -> None:
    war = java_archive(
        [SHOP],
        nested={
            "WEB-INF/lib/log4j-core-2.14.1.jar": java_archive([LOG4J]),
            "WEB-INF/lib/jackson-databind-2.9.10.8.jar": java_archive([JACKSON]),
            "WEB-INF/classes/application.properties": b"server.port=8080\n",
        },
    )
    boot = java_archive(
        [("com.example", "api", "0.1.0")],
        nested={"BOOT-INF/lib/spring-core-5.3.17.jar": java_archive([SPRING])},
        compression=zipfile.ZIP_STORED,
    )
    inventory = _inventory(
        tmp_path,
        [
            [
                File("opt/app/lib/log4j-core-2.14.1.jar", java_archive([LOG4J])),
                File("usr/local/tomcat/webapps/shop.war", war),
                File("srv/api.JAR", boot),
                # A shaded jar carries the pom.properties of every artifact shaded into it.
                File("opt/tools/cli-all.jar", java_archive([LOG4J, LOG4J_API])),
                # Built without Maven: nothing to report.
                File("opt/tools/plain.jar", java_archive([])),
            ]
        ],
    )
    shop = "usr/local/tomcat/webapps/shop.war"
    assert _coordinates(inventory) == {
        ("org.apache.logging.log4j:log4j-core", "2.14.1", "opt/app/lib/log4j-core-2.14.1.jar"),
        ("com.example:shop", "1.4.0", shop),
        ("org.apache.logging.log4j:log4j-core", "2.14.1", shop),
        ("com.fasterxml.jackson.core:jackson-databind", "2.9.10.8", shop),
        ("com.example:api", "0.1.0", "srv/api.JAR"),
        ("org.springframework:spring-core", "5.3.17", "srv/api.JAR"),
        ("org.apache.logging.log4j:log4j-core", "2.14.1", "opt/tools/cli-all.jar"),
        ("org.apache.logging.log4j:log4j-api", "2.14.1", "opt/tools/cli-all.jar"),
    }  # fmt: skip
    log4j = next(p for p in inventory.packages if p.location.endswith("log4j-core-2.14.1.jar"))
    assert (log4j.type, log4j.purl) == (
        "maven",
        "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    )
    assert inventory.problems == []


def test_a_jar_deleted_by_a_later_layer_is_not_reported(tmp_path: Path) -> None:
    inventory = _inventory(
        tmp_path,
        [
            [
                File("app/lib/log4j-core-2.14.1.jar", java_archive([LOG4J])),
                File("app/lib/jackson-databind.jar", java_archive([JACKSON])),
            ],
            # `RUN rm app/lib/log4j-core-2.14.1.jar` in a later layer
            [whiteout("app/lib/log4j-core-2.14.1.jar")],
        ],
    )
    assert {p.name for p in inventory.packages} == {"com.fasterxml.jackson.core:jackson-databind"}


def test_an_upgraded_jar_belongs_to_the_layer_that_upgraded_it(tmp_path: Path) -> None:
    fixed = ("org.apache.logging.log4j", "log4j-core", "2.17.1")
    inventory = _inventory(
        tmp_path,
        [
            [File("app/app.jar", java_archive([SHOP, LOG4J]))],
            [File("app/app.jar", java_archive([SHOP, fixed]))],
        ],
    )
    assert {(p.name, p.version, p.layer.index) for p in inventory.packages} == {
        ("com.example:shop", "1.4.0", 0),
        ("org.apache.logging.log4j:log4j-core", "2.17.1", 1),
    }


def test_damaged_archives_are_problems_and_the_rest_is_still_read(tmp_path: Path) -> None:
    war = java_archive(
        [SHOP], nested={"WEB-INF/lib/broken.jar": b"PK\x03\x04 this is not a zip archive"}
    )
    inventory = _inventory(
        tmp_path,
        [[File("app/broken.jar", b"not a zip at all"), File("app/shop.war", war)]],
    )
    assert _coordinates(inventory) == {("com.example:shop", "1.4.0", "app/shop.war")}
    problems = {(p.code, p.location): p.message for p in inventory.problems}
    assert set(problems) == {
        ("unreadable-file", "app/broken.jar"),
        ("unreadable-file", "app/shop.war"),
    }
    assert "WEB-INF/lib/broken.jar" in problems[("unreadable-file", "app/shop.war")]
    assert not any(p.blocking for p in inventory.problems)
