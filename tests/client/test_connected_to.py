"""Images chosen by the datasets they belong to (``connected_to``): entities found by class and constraints, images
connected to any of them; an older image newly connected to a chosen dataset is new to a re-sync."""

from __future__ import annotations

import pytest
from ls_storage.client.constraints import ConstraintsError, parse_connected_to
from ls_storage.client.source import ImageSelection, count_images, images_newly_connected, iter_image_pages


@pytest.fixture
def datasets(aperturedb_images):
    """Three images; datasets "a" (images 1, 2) and "b" (image 3) of a class of this test's own."""
    images = aperturedb_images
    uniqueids = [images.add(f"{n}.png", 8, 8) for n in (1, 2, 3)]
    cls, link = f"Dataset_{images.tag}", f"has_{images.tag}"
    query = [{"AddEntity": {"_ref": 1, "class": cls, "properties": {"name": "a"}}},
             {"AddEntity": {"_ref": 2, "class": cls, "properties": {"name": "b"}}}]
    for index, (uniqueid, dataset_ref) in enumerate(zip(uniqueids, (1, 1, 2)), 3):
        query += [{"FindImage": {"_ref": index, "constraints": {"_uniqueid": ["==", uniqueid]}}},
                  {"AddConnection": {"class": link, "src": dataset_ref, "dst": index}}]
    images.query(query)
    return images, uniqueids, cls, link


def _uniqueids(connector, selection) -> set[str]:
    return {record.uniqueid for page in iter_image_pages(connector, selection) for record in page}


def _selection(images, *specs) -> ImageSelection:
    return ImageSelection(constraints=images.constraints, with_regions=False,
                          connected_to=tuple(parse_connected_to(list(specs))))


def test_images_of_the_chosen_datasets_in_either_constraint_form(datasets):
    images, (one, two, three), cls, link = datasets
    connector = images.connector
    a = {"class": cls, "constraints": {"name": ["==", "a"]}, "connection_class": link, "direction": "out"}
    assert _uniqueids(connector, _selection(images, a)) == {one, two}
    b_as_expression = {"class": cls, "constraints": ["$name", "==", "b"]}  # any direction, any connection class
    assert _uniqueids(connector, _selection(images, b_as_expression)) == {three}
    assert _uniqueids(connector, _selection(images, a, b_as_expression)) == {one, two, three}
    assert _uniqueids(connector, _selection(images, {**a, "direction": "in"})) == set()  # images are destinations
    assert _uniqueids(connector, _selection(images, {"class": cls, "constraints": {"name": ["==", "c"]}})) == set()
    assert count_images(connector, _selection(images, a), 0)[0] == 2


def test_an_older_image_newly_connected_to_a_chosen_dataset_is_new(datasets):
    images, (one, two, three), cls, link = datasets
    connector = images.connector
    selection = _selection(images, {"class": cls, "constraints": {"name": ["==", "a"]}, "connection_class": link})
    links = images.query([{"FindConnection": {"with_class": link, "results": {"list": ["_create_txn"]}}}])
    since = max(entity["_create_txn"] for entity in links[0]["FindConnection"]["connections"])  # after the setup
    assert images_newly_connected(connector, selection, since) == (set(), since)

    images.query([{"FindEntity": {"_ref": 1, "with_class": cls, "constraints": {"name": ["==", "a"]}}},
                  {"FindImage": {"_ref": 2, "constraints": {"_uniqueid": ["==", three]}}},
                  {"AddConnection": {"class": link, "src": 1, "dst": 2}}])

    newly, stamp = images_newly_connected(connector, selection, since)
    assert newly == {three} and stamp > since
    assert images_newly_connected(connector, selection, stamp) == (set(), stamp)
    assert count_images(connector, selection, since) == (3, 0)  # all three match; none was created since


@pytest.mark.parametrize("value, words", [
    ('{"class": ', "not valid JSON"),
    ([1], "[0] must be an object"),
    ({"constraints": {}}, "'class' names the entities"),
    ({"class": "Dataset", "direction": "up"}, "'direction' must be one of"),
    ({"class": "Dataset", "size": 3}, "unknown key 'size'"),
    ({"class": "Dataset", "constraints": ["$name", "~", "a"]}, "it: constraints"),
])
def test_a_malformed_spec_is_refused_saying_where(value, words):
    with pytest.raises(ConstraintsError, match=None) as raised:
        parse_connected_to(value)
    assert words in str(raised.value), str(raised.value)
