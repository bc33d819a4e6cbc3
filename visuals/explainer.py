"""The "How it works" text shown next to the panels (Markdown)."""

HOW_IT_WORKS = """
### How it works

**1 · Why decoding is slow.** A language model writes one token (a word piece) per *forward
pass*, and each pass has to read the whole model. But a pass can check many tokens at once for
almost the same price as one.

**2 · Draft, then verify.** So we *guess* the next few tokens cheaply (the **draft**) and feed
them all to the model in one pass. At every position the model says what *it* would have
written. We keep the draft tokens up to the first disagreement, and add the model's own token
there (the **bonus** token, grey). One pass, several tokens.

**3 · Why the output does not change.** A draft token is kept only if it is exactly what the
model would have chosen anyway. A wrong guess costs a little time, never a different answer.
The *Compare* panel checks this: the text is identical, token for token, to plain decoding.

**4 · Where guesses come from: suffix automata.** Text repeats itself: code reuses names,
answers quote the question, a summary copies phrases. A **suffix automaton** is a compact
machine that knows every piece of a text. Start at the *root*, follow one arrow per token:
you can keep walking exactly as long as the tokens you read appear somewhere in the text.
Each circle (a **state**) stands for a group of text pieces that end at the same places;
**suffix links** (dashed) jump to a shorter ending when the next token does not fit. Walking it
over the latest tokens finds the longest ending of our text that appeared before, and what
came *after* it there is the draft.

* the **dynamic automaton** (green) grows with this conversation: prompt + output so far;
* the **static automaton** (blue) is built once from a corpus of the model's earlier answers;
* **Token Recycling** (orange) is the fallback: the model's own top guesses from earlier passes.

**5 · Choosing a drafter.** Each step compares the two match lengths (the *Match length*
chart). The dynamic match wins unless the static one is longer by more than **l_bias**. If
the winner is shorter than **l_threshold** tokens, a match that short is usually a coincidence,
so Token Recycling drafts instead (or nothing, for `sam` alone).

**6 · How long a draft?** On a GPU a longer draft is nearly free; on a CPU each extra token
costs time. The *cost* policy measures this and drafts only as far as it pays (sometimes
nothing: a hollow square in the drafter chart).

**Reading the panels.** Tokens are coloured by their source; struck-through tokens are
drafts the model rejected. Drag the step slider (or press ▶) to replay; click a token to jump
to its step. **MAT** is the mean number of tokens per forward pass: plain decoding has 1.
""".strip()
