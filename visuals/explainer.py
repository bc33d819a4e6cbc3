"""The "How it works" explainer shown above the panels: four short cards, as HTML, then the
page's glossary (visuals.glossary: each word defined once)."""

from .glossary import glossary_html, term

CARDS = (
    (
        "1 · Draft, then verify",
        "A language model writes one token (a piece of a word) per <b>forward pass</b>. So we "
        "<i>guess</i> the next few tokens cheaply (the <b>draft</b>) and let the model check "
        "them all in one pass. We keep the draft up to the first token the model disagrees "
        f"with, and add the model's own token there (the <b>{term('bonus')}</b>, grey). One pass, "
        "several tokens. On a GPU a pass costs about the same for one token or a dozen; on a "
        "CPU, like this demo's, each extra token costs some time: the <b>verify-cost</b> chart "
        "below shows this machine's measured price.",
    ),
    (
        "2 · The output never changes",
        "A drafted token is kept only if it is exactly what the model would have chosen itself "
        "(struck-through tokens are the guesses it turned down). A bad guess costs a little "
        "time, never a different answer. <b>Compare</b>, at the bottom, checks it: the text is "
        "identical, token for token, to plain decoding. With a temperature above 0 it is too: "
        "the random draw for each position comes from the <b>seed</b> and the position alone, "
        "so speculation keeps a guess exactly when plain sampling would have drawn it. "
        f"<b>{term('mat')}</b> (mean accepted tokens per step) is the number of tokens each "
        "forward pass appends on average, the bonus token included; plain decoding has 1.",
    ),
    (
        "3 · Suffix automata find the guesses",
        "Text repeats itself: code reuses names, answers quote the question. A <b>suffix "
        "automaton</b> is a small machine that knows every piece of a text: from the "
        "<i>root</i>, follow one arrow per token, and you can keep going exactly as long as "
        "those tokens appeared in the text. Each circle (a <b>state</b>) stands for pieces that "
        "end at the same places; a dashed <b>suffix link</b> drops tokens from the front. The "
        "longest ending of our text seen before is the <b>match</b>; what came after it back "
        "then is the draft.",
    ),
    (
        "4 · Three drafters, one rule",
        "The <b style='color:#009E73'>dynamic</b> automaton grows with this conversation; the "
        "<b style='color:#0072B2'>static</b> one indexes a corpus of the model's earlier "
        "answers; <b style='color:#B7791F'>Token Recycling</b> reuses the model's own top "
        "guesses from earlier passes. The paper's rule: take <b>l_bias</b> off the static match "
        "(the dynamic one is about this very text, so it is trusted more); the longer of the "
        "two then wins, dynamic on a tie. If even that is shorter than <b>l_threshold</b>, the "
        f"match is likely a coincidence, so Token Recycling, the {term('auxiliary')}, drafts "
        "instead: a static match must "
        "be at least l_bias + l_threshold tokens long to draft. Then the <b>length policy</b> "
        "decides how many of the drafted tokens to verify: <i>cost-aware</i> (the default) "
        "keeps the cut with the most expected tokens per second on the verify-cost curve, "
        "none if no cut beats a plain step; <i>fixed length</i> keeps up to the "
        "<b>draft limit</b> (the Draft length setting) whatever it costs.",
    ),
)

HOW_IT_WORKS = "".join(
    f'<div class="sd-card-explain"><h4>{title}</h4><p>{body}</p></div>' for title, body in CARDS
)
HOW_IT_WORKS = f'<div class="sd-explain">{HOW_IT_WORKS}</div>{glossary_html()}'
