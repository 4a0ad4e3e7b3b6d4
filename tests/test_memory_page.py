"""AppTests of the Memory tab of every page with a recurrent model, on real input against the shipped models:
the tab opens with no exception and draws the state, the gates (or says a vanilla RNN has none), the influence and
the unit picker; a model without recurrence says it has no state."""

from tests.conftest import assert_no_exception, open_page, open_tab, page_texts


def open_memory(page, topology: str):
    return open_tab(page, topology, "Memory")


def memory_views_drawn(page) -> bool:
    texts = [element.value for element in page.subheader]
    return {"Hidden state over time", "Gates", "What the output depends on", "Pick a unit"} <= set(texts)


def choose_model(page, topology: str, name: str):
    picker = page.selectbox(key=f"{topology}-model")
    [option] = [option for option in picker.options if option.startswith(name)]
    picker.set_value(option).run()
    assert_no_exception(page)


def test_one_to_one_row_lstm_and_a_plain_network(app):
    page = open_page(app, "views/one_to_one.py")
    page.radio[0].set_value("Pick a test-set example").run()
    open_memory(page, "one_to_one")
    assert "plain network: it has no recurrence" in page_texts(page)  # the champion is the CNN
    choose_model(page, "one_to_one", "row_lstm ")
    assert memory_views_drawn(page)
    assert "Memory span across runs" in [element.value for element in page.subheader]


def test_many_to_one_every_cell(app):
    page = open_page(app, "views/many_to_one.py")
    page.button(key="many_to_one-examples").click().run()
    open_memory(page, "many_to_one")
    for name in ("bilstm_attention_ngrams ", "bilstm_attention ", "gru ", "lstm ", "rnn "):
        choose_model(page, "many_to_one", name)
        assert memory_views_drawn(page), name
        said = page_texts(page)
        assert ("A vanilla RNN has no gates" in said) == (name == "rnn ")
    page.selectbox(key="many_to_one-memory-tweet").select_index(3).run()
    assert_no_exception(page)
    page.radio(key="many_to_one-memory-order").set_value("similar time course").run()
    assert_no_exception(page)
    assert memory_views_drawn(page)


def test_the_memory_tab_before_any_input_is_a_hint(app):
    page = open_page(app, "views/many_to_one.py")
    open_memory(page, "many_to_one")
    assert "give it one there first" in page_texts(page) and not memory_views_drawn(page)


def test_many_to_many_every_run(app):
    page = open_page(app, "views/many_to_many.py")
    page.button(key="many_to_many-text-submit").click().run()
    open_memory(page, "many_to_many")
    for name in ("lstm_attention ", "gru_attention ", "gru "):
        choose_model(page, "many_to_many", name)
        assert memory_views_drawn(page), name
        page.selectbox(key="many_to_many-memory-layer").set_value("decoder").run()
        assert_no_exception(page)


def test_one_to_many_both_captioners(app):
    page = open_page(app, "views/one_to_many.py")
    open_memory(page, "one_to_many")
    for name in ("show-attend-tell ", "show-and-tell "):
        choose_model(page, "one_to_many", name)
        assert memory_views_drawn(page), name


def test_many_to_many_synced_recurrent_and_per_frame(app):
    page = open_page(app, "views/many_to_many_synced.py")
    page.radio(key="many_to_many_synced-source").set_value("Generate a sample clip").run()
    assert_no_exception(page)
    open_memory(page, "many_to_many_synced")
    assert memory_views_drawn(page)
    assert "first 32 are traced" in page_texts(page)  # the sample clip has 200 frames
    choose_model(page, "many_to_many_synced", "per_frame ")
    assert "has no recurrence" in page_texts(page)
