from duban.chunks import IDS_PER_QUERY, in_parts


def test_ids_come_in_parts_that_fit_one_in_list_and_lose_nothing() -> None:
    ids = list(range(2 * IDS_PER_QUERY + 7))
    parts = list(in_parts(ids))
    assert [len(part) for part in parts] == [IDS_PER_QUERY, IDS_PER_QUERY, 7]
    assert [i for part in parts for i in part] == ids
    assert list(in_parts([], 3)) == []
    assert list(in_parts("abcdefg", 3)) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
