# %% [markdown]
# # 03 · Lifecycle events: `onopen`, `onmessage`, `onerror`, `onclose`
#
# **What you will learn**
#
# - the four values of `readyState`, and what `send()` does in each;
# - why event handlers run only after your code has finished, in a browser and here;
# - when `send()` throws, when it silently drops your data, and the one-line guard against both;
# - what `error` and `close` tell a page when a connection is refused, cut, or closed by the
#   server;
# - how to turn events into a function you can `await`.
#
# Everything runs on `127.0.0.1`. The library is `wslearn.websocket`: the browser's `WebSocket`
# interface in Python, which fires the same events in the same order as Chromium. Beside it runs
# the real thing: `wslearn.browser` runs the same code as JavaScript in headless Chromium.

# %% [markdown]
# ## A socket you don't drive
#
# The browser's WebSocket API is *event-driven*. `new WebSocket(url)` returns at once, and the
# handshake runs in the background. Your script never waits for the network: it hands the socket
# functions to call when something happens.
#
# - `onopen`: the opening handshake succeeded; from now on the page may send.
# - `onmessage`: a whole message arrived; it is in `event.data` (text or binary).
# - `onerror`: the connection *failed*. The event says nothing about why, and a `close`
#   event always follows.
# - `onclose`: the connection is over: `event.code`, `event.reason`, and `event.wasClean`
#   (did both close frames cross before TCP closed?). Nothing can be sent or received after it.
#
# At any moment `ws.readyState` says where the socket is in its life:
#
# | constant | value | meaning | `send(data)` then… |
# | --- | :-: | --- | --- |
# | `WebSocket.CONNECTING` | 0 | the opening handshake has started but not finished | throws `InvalidStateError` |
# | `WebSocket.OPEN` | 1 | the handshake succeeded: both sides may send | queues the message |
# | `WebSocket.CLOSING` | 2 | the closing handshake has begun (`close()` was called, or the server's close frame arrived) | drops the data without a word (but `bufferedAmount` still grows) |
# | `WebSocket.CLOSED` | 3 | the connection is over, or it never opened | drops it as well |
#
# The value only goes forward, sometimes skipping a step: 0 → 3 when the handshake fails, 1 → 3
# when TCP is lost. A closed socket is never reused: to reconnect, create a new one.
#
# `wslearn.websocket.WebSocket` keeps the browser's names (`readyState`, `onopen`, `wasClean`) so
# that the Python and the JavaScript read alike. Where a browser would run code later, in an
# event, Python needs an event loop; a Jupyter kernel already runs one, so the cells below can
# create sockets and `await` directly.

# %%
import asyncio
import time

from wslearn import browser, closings, plots, servers
from wslearn.exercises import check
from wslearn.websocket import DOMException, WebSocket

browser.warm_up()  # headless Chromium starts in the background; used further down
for name in ("CONNECTING", "OPEN", "CLOSING", "CLOSED"):
    print(f"WebSocket.{name:10} = {getattr(WebSocket, name)}")

# %% [markdown]
# ## A socket's life, one cell at a time
#
# The usual pattern: send in `onopen` (never before), react in `onmessage`, close when done.
# The handlers below note what they see in a list, `seen`. After creating the socket the cell
# keeps the kernel busy for 100 ms, plenty of time for a handshake on loopback, and then prints
# `readyState`.

# %%
echo = await servers.start("echo")
seen = []


def on_open(event):
    seen.append(f"open     readyState={ws.readyState}")
    ws.send("Hello")  # only now may the page send


def on_message(event):
    seen.append(f"message  data={event.data!r}")
    ws.close(1000, "Closing normally!")


def on_close(event):
    seen.append(f"close    code={event.code} reason={event.reason!r} wasClean={event.wasClean}")


ws = WebSocket(echo.url)
ws.onopen, ws.onmessage, ws.onclose = on_open, on_message, on_close
time.sleep(0.1)  # busy, not awaiting: the event loop cannot run
ended = asyncio.get_running_loop().time() - ws.created_at
print("readyState at the end of the cell:", ws.readyState, "(CONNECTING)")
print("handlers called so far:", seen)

# %% [markdown]
# Still `CONNECTING`, and not one handler has run. Events are *tasks* queued on the event loop,
# and the loop runs only between pieces of your code: when a cell ends, or at an `await`. A
# browser works the same way. Its network code may well finish the handshake during those
# 100 ms, but `readyState` changes and `onopen` runs in a task that waits until the current
# script has returned. So no handler ever interrupts your code halfway through.
#
# By the time you run the next cell the conversation is long over. (When the whole notebook runs
# in one go, the next cell starts within milliseconds, so it first waits, at most 5 s, for the
# `close` event.)

# %%
await ws.closed(timeout=5)
print("\n".join(seen))
first = next(e.time for e in ws.events if e.type == "open")
print(f"\nthe cell above ended {ended * 1000:.1f} ms after new WebSocket();")
print(f"open fired {(first - ended) * 1000:.1f} ms after that")

# %% [markdown]
# ## The same page in Chromium
#
# Now the same code as JavaScript, in a real browser. `browser.run(js, url=...)` runs a snippet in
# headless Chromium against our echo server and returns what happened. Inside the snippet,
# `watch(ws)` records every event of the socket and `log(...)` adds a line of our own; a busy loop
# plays the part of `time.sleep(0.1)`.

# %%
chromium = await browser.run(
    """
    const ws = watch(new WebSocket(url));
    ws.onopen = () => ws.send("Hello");
    ws.onmessage = (e) => ws.close(1000, "Closing normally!");
    const end = performance.now() + 100;
    while (performance.now() < end) {}          // busy for 100 ms
    log("end of script", {readyState: ws.readyState});
    """,
    url=echo.url,
)
print(chromium)

# %% [markdown]
# The same steps in Python, recorded the same way (`browser.Recorder` gives Python the snippet's
# `watch` and `log`), and the two logs side by side; `rs` is `readyState`, and a `≠` in the margin
# would mark a row where they differ:

# %%
py = browser.Recorder()
ws = py.watch(WebSocket(echo.url))
ws.onopen = lambda event: ws.send("Hello")
ws.onmessage = lambda event: ws.close(1000, "Closing normally!")
time.sleep(0.1)
py.log("end of script", readyState=ws.readyState)
python = await py.finish()
print(browser.side_by_side(chromium, python))

# %% [markdown]
# ### What the handshake settled: `protocol` and `extensions`
#
# From `open` on, two more attributes say what the opening handshake agreed on: `ws.protocol`,
# the subprotocol the server chose from the list the page offered (notebook 01), and
# `ws.extensions`, the extensions it accepted. Here is a server that speaks `chat.v2` and
# `chat.v1` and, like most servers, accepts compression (`permessage-deflate`); `watch(ws,
# "protocol", "extensions")` notes both at every event:

# %%
chat = await servers.start("subprotocol", compression="deflate")
chromium = await browser.run(
    """
    const ws = watch(new WebSocket(url, ["chat.v2", "chat.v1"]), "protocol", "extensions");
    ws.onopen = () => ws.close();
    """,
    url=chat.url,
)
py = browser.Recorder()
ws = py.watch(WebSocket(chat.url, ["chat.v2", "chat.v1"]), "protocol", "extensions")
ws.onopen = lambda event: ws.close()
python = await py.finish()
for log in (chromium, python):
    opened = log.events[0]
    print(f"{log.version:30} protocol={opened['protocol']!r} extensions={opened['extensions']!r}")

# %% [markdown]
# Both got the subprotocol they asked for first, and both offered compression in their request,
# which the server accepted with its own window sizes: the same two strings. (The course's other
# servers turn compression off, so that the bytes on the wire stay readable by hand; notebook 10
# is about compression.)

# %% [markdown]
# A browser keeps no event log of its own, but wslearn's `WebSocket` does: `ws.events` holds every event fired and
# every change of `readyState`, with the time since the socket was created. (`connecting` and
# `closing` are changes of state that fire no event.)
#
# In the log of the socket above, the 100 ms of `time.sleep` would dwarf everything else. So here
# are the same handlers on a new socket, created in a cell that `await`s its close: an `await`
# hands control to the loop, and the whole conversation happens during it.

# %%
seen.clear()
ws = WebSocket(echo.url)  # the handlers use the name ws: they now talk to this socket
ws.onopen, ws.onmessage, ws.onclose = on_open, on_message, on_close
await ws.closed(timeout=5)
for entry in ws.events:
    details = ", ".join(f"{key}={value!r}" for key, value in entry.details.items())
    print(f"{entry.time * 1000:6.3f} ms  {entry.type:10}  readyState={entry.readyState}  {details}")

# %% [markdown]
# Drawn as a timeline: one coloured band per value of `readyState`, a bold tick for each event,
# a thin grey one for each change of state that fires no event.

# %%
fig = plots.readystate_timeline(ws.events, title="open, 'Hello' and its echo, close(1000)")

# %% [markdown]
# Read it from left to right:
#
# - **CONNECTING** covers the TCP connection and the HTTP upgrade of notebook 01. On loopback it
#   is over almost at once; across the internet it takes one or more round trips, often tens or
#   hundreds of milliseconds.
# - **OPEN** starts with the `open` event. `onopen` sent `"Hello"`, and the echo came back as a
#   `message`.
# - **CLOSING** starts *inside* `close()`: the state changes at once, before any byte leaves.
#   Our close frame goes out, the server answers with its own, and TCP closes.
# - **CLOSED** starts with the `close` event: 1000, the reason we gave, and `wasClean` true,
#   because both close frames crossed.

# %% [markdown]
# ## `send()` too early, and too late
#
# The rule: call `send()` only once `onopen` has fired. Here is what happens otherwise.

# %%
ws = WebSocket(echo.url)
try:
    ws.send("too early")
except DOMException as error:
    print(f"{error.name}: {error}")
print("readyState:", ws.readyState)

# %% [markdown]
# In JS that is `DOMException` too, with `e.name === "InvalidStateError"`. In a notebook we can
# `await` the `open` event instead of writing an `onopen` handler (`ws.wait_for` is a Python
# helper; a browser has no such thing). Then `send()` works, and the echo comes back.
#
# After `close()`, `send()` no longer throws, and yet the data goes nowhere: the socket is
# CLOSING, so the message is thrown away, while `bufferedAmount` still grows by its size. The
# standard says so: every `send()` that does not throw adds its size to `bufferedAmount`, even
# when the data is dropped.

# %%
await ws.wait_for("open", timeout=5)
ws.send("now it works")
reply = await ws.wait_for("message", timeout=5)
print("echo:", reply.data)

ws.close()
print("after close(): readyState", ws.readyState)
ws.send("lost")  # no exception ...
print("bufferedAmount after send('lost'):", ws.bufferedAmount)  # ... bytes that never leave
event = await ws.closed(timeout=5)
fired = [e.type for e in ws.events if e.type not in ("connecting", "closing")]
print("close", event.code, "| events fired:", fired)

# %% [markdown]
# Chromium does the same. In the snippet, `attempt(what, fn)` calls `fn` and records the name of
# the `DOMException` it throws, if any:

# %%
chromium = await browser.run(
    """
    const ws = watch(new WebSocket(url));
    attempt("send", () => ws.send("too early"));
    ws.onopen = () => ws.send("now it works");
    ws.onmessage = () => {
      ws.close();
      ws.send("lost");
      log("after send('lost')", {bufferedAmount: ws.bufferedAmount});
    };
    """,
    url=echo.url,
)
py = browser.Recorder()
ws = py.watch(WebSocket(echo.url))
py.attempt("send", lambda: ws.send("too early"))
ws.onopen = lambda event: ws.send("now it works")


def on_message(event):
    ws.close()
    ws.send("lost")
    py.log("after send('lost')", bufferedAmount=ws.bufferedAmount)


ws.onmessage = on_message
python = await py.finish()
print(browser.side_by_side(chromium, python))

# %% [markdown]
# A page that sends on a timer, or when the user clicks, can make both mistakes: the socket may not
# be open yet, or may already be closing. Exercise 3, below, asks you for the one-line guard
# against both.

# %% [markdown]
# ## Predict first
#
# Endings come next: a port where nothing listens, a server that closes, a connection that is
# cut. Before you see them, write down what you expect.
#
# **Exercise 1 · predict_events.** For each scenario, which events does the socket fire, in
# order? Write an event's type (`"open"`, `"message"`, `"error"`), and the close event with its
# code, as in `["open", "close 1000"]`. The check runs every scenario live and compares.
#
# - `"refused port"`: `WebSocket(url)` for a port on 127.0.0.1 where nothing listens;
# - `"server closes with 4000"`: the server accepts the handshake, then at once closes with code
#   4000 and reason `"bye"`;
# - `"close() while CONNECTING"`: `ws.close()` right after `WebSocket(url)`, to a working server;
# - `"server drops TCP"`: the server accepts the handshake, then cuts the TCP connection without
#   a close frame.


# %% exercise=predict_events
def predict_events(scenario: str) -> list[str]:
    ### BEGIN SOLUTION
    return {
        "refused port": ["error", "close 1006"],
        "server closes with 4000": ["open", "close 4000"],
        "close() while CONNECTING": ["error", "close 1006"],
        "server drops TCP": ["open", "close 1006"],
    }[scenario]
    ### END SOLUTION


# %% check=predict_events
check("predict_events", predict_events)

# %% [markdown]
# ## Endings: closed, cut, refused
#
# ### The server closes, with a code
#
# The course's `closer` server echoes messages, except one of the form `close CODE REASON`: then
# it starts the closing handshake with that code and reason. Codes 4000 to 4999 are free for
# applications to use (notebook 04 lists them all).

# %%
closer = await servers.start("closer")
ws = WebSocket(closer.url)
ws.onopen = lambda event: ws.send("close 4001 done for today")
ws.onclose = lambda event: print(
    f"close event: code={event.code} reason={event.reason!r} wasClean={event.wasClean}"
)
await ws.closed(timeout=5)
print([(e.type, e.readyState, e.details) for e in ws.events if e.type == "closing"])

# %% [markdown]
# The server's close frame put the socket in CLOSING (`by: server`); the socket answered it with
# a close frame of its own, and when TCP closed, the `close` event carried the server's code and
# reason, clean. In JS:
#
# ```js
# ws.onopen = () => ws.send("close 4001 done for today");
# ws.onclose = (e) => console.log(e.code, e.reason, e.wasClean);  // 4001 "done for today" true
# ```
#
# ### When it goes wrong
#
# Now the scenarios of Exercise 1, plus the refused handshake of notebook 01 (the `reject` server
# answers `403 Forbidden`), each in Chromium and in Python. `closings.Ending` describes one
# scenario as data (a URL, and whether the page calls `close()` at once); `in_chromium` and
# `in_python` run it and record the events until `close`, and `compare` prints one row each.

# %%
refuser = await servers.start("reject", status=403)
endings = [
    closings.Ending("refused port", f"ws://127.0.0.1:{closings.free_port()}/"),
    closings.Ending("403 Forbidden", refuser.url),
    closings.Ending("close() while CONNECTING", echo.url, close_at_once=True),
    closings.Ending("server closes with 4000", f"{closer.url}/?code=4000&reason=bye"),
    closings.Ending("server drops TCP", f"{closer.url}/?code=1006"),
]
in_chromium = [await closings.in_chromium(ending) for ending in endings]
in_python = await asyncio.gather(*(closings.in_python(ending) for ending in endings))
print(closings.compare([e.name for e in endings], in_chromium, in_python))

# %%
lives = {ending.name: seen.ws.events for ending, seen in zip(endings, in_python, strict=True)}
fig = plots.readystate_timeline(lives)

# %% [markdown]
# Three rules cover all five rows:
#
# - **A connection that never opened fires `error`, then `close` 1006.** A refused port, a `403`,
#   and a `close()` while CONNECTING look exactly alike to the page. In the standard's words the
#   connection was *failed*.
# - **A connection that was open fires no `error` when TCP is lost**, only `close` with 1006 and
#   `wasClean` false. 1006 ("abnormal closure") never travels in a frame: the browser reports it
#   when no close frame arrived.
# - **A close frame from the server gives a clean close** with the server's code and reason.
#
# Chromium and wslearn's `WebSocket` agree on every row.
#
# What went wrong is never in the `error` event. In JS `onerror` receives a plain `Event` with no
# code and no message, and the explanation goes to the developer console, which the page cannot
# read. The standard wants it so: a page must not be able to tell "refused" from "forbidden", or
# it could probe servers it has no business talking to. Here are Chromium's console lines, and
# the text wslearn's `WebSocket` keeps in `ws.events` in their place:

# %%
for ending, chromium, seen in zip(endings, in_chromium, in_python, strict=True):
    said = [entry.details["message"] for entry in seen.ws.events if entry.type == "error"]
    if said:
        print(f"{ending.name}\n  Chromium: {chromium.console[-1]}\n  wslearn:  {said[0]}")

# %% [markdown]
# ```js
# ws.onerror = (e) => console.log(e.type);   // "error": that is all a page learns
# ws.onclose = (e) => {
#   if (!e.wasClean) console.log("lost or refused:", e.code);  // 1006; try again later
# };
# ```

# %% [markdown]
# ## More about listeners
#
# `ws.onmessage = f` fills one slot: assigning it again replaces `f`. `addEventListener("message",
# g)` adds a listener next to it, and every listener gets every event, in the order they were
# added. Listeners are independent: if one raises an exception, the browser reports it in the
# console and goes on with the next listener and the next event; the socket doesn't notice.
# wslearn's `WebSocket` prints the same kind of one-line report (on stderr, the notebook's
# console) and carries on too.
#
# Below, `onmessage` turns each message into a number and breaks on `"forty-two"`; a second
# listener prints every message.

# %%
ws = WebSocket(echo.url)
numbers = []
ws.onmessage = lambda event: numbers.append(int(event.data))
ws.addEventListener("message", lambda event: print("second listener got", repr(event.data)))
await ws.wait_for("open", timeout=5)
for text in ("42", "forty-two", "7"):
    ws.send(text)
for _ in range(3):
    await ws.wait_for("message", timeout=5)
print("numbers:", numbers, "| readyState:", ws.readyState, "(still OPEN)")
ws.close()
event = await ws.closed(timeout=5)

# %% [markdown]
# ### Binary messages and `binaryType`
#
# A text message arrives as a string. A binary one arrives, in a browser, as a `Blob` (the
# default, `ws.binaryType === "blob"`: read it with `await e.data.arrayBuffer()`) or as an
# `ArrayBuffer` after `ws.binaryType = "arraybuffer"` (wrap it in `new Uint8Array(e.data)`).
# Python has neither type, so wslearn's `WebSocket` hands over `bytes` in both cases; it accepts
# and keeps the setting only so that code reads like the JS.
#
# ```js
# ws.binaryType = "arraybuffer";
# ws.onmessage = (e) => console.log(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
# ```

# %%
ws = WebSocket(echo.url)
ws.binaryType = "arraybuffer"
await ws.wait_for("open", timeout=5)
ws.send(bytes([0, 1, 2, 255]))
ws.send("text stays text")
for _ in range(2):
    data = (await ws.wait_for("message", timeout=5)).data
    print(f"binaryType={ws.binaryType!r}: {type(data).__name__:5} {data!r}")
ws.close()
event = await ws.closed(timeout=5)

# %% [markdown]
# ## Exercises
#
# **Exercise 2 · ask.** Events are how the browser talks to you; an `await` is often what the rest
# of a program wants. Write `ask(url, question)`: open a WebSocket to `url`, send `question` as
# soon as it is open, return the first message that comes back, and close the socket. If the
# socket closes before any answer (a refused handshake, say), raise `ConnectionError`.
#
# Use `onopen`, `onmessage` and `onclose`. An asyncio *future* links the handlers to the `await`:
# `answer = asyncio.get_running_loop().create_future()`, then `answer.set_result(...)` or
# `answer.set_exception(...)` in a handler (only while `not answer.done()`), and
# `return await answer`. The check asks an echo server, a slower server that answers something
# else, two questions at once, and a server that refuses with 403.


# %% exercise=ask
async def ask(url: str, question: str) -> str:
    ### BEGIN SOLUTION
    ws = WebSocket(url)
    answer = asyncio.get_running_loop().create_future()

    def on_open(event):
        ws.send(question)

    def on_message(event):
        if not answer.done():
            answer.set_result(event.data)
        ws.close()

    def on_close(event):
        if not answer.done():
            answer.set_exception(ConnectionError(f"closed (code {event.code}) before an answer"))

    ws.onopen, ws.onmessage, ws.onclose = on_open, on_message, on_close
    return await answer
    ### END SOLUTION


# %% check=ask
check("ask", ask)

# %% [markdown]
# **Exercise 3 · safe_send.** The guard as a function: if `ws` is OPEN, send `data` and
# return `True`; in any other state send nothing and return `False`. The check calls it on a real
# socket in each of the four states.


# %% exercise=safe_send
def safe_send(ws, data) -> bool:
    ### BEGIN SOLUTION
    if ws.readyState == WebSocket.OPEN:
        ws.send(data)
        return True
    return False
    ### END SOLUTION


# %% check=safe_send
check("safe_send", safe_send)

# %% [markdown]
# In a page, the same guard is one line:
#
# ```js
# if (ws.readyState === WebSocket.OPEN) ws.send(data);   // only an open socket really sends
# ```

# %% [markdown]
# ## Summary
#
# - `readyState` goes 0 CONNECTING → 1 OPEN → 2 CLOSING → 3 CLOSED, never back; a failed
#   handshake jumps from 0 to 3, a lost connection from 1 to 3.
# - `new WebSocket(url)` returns at once. Handlers run as tasks of the event loop, only once your
#   code has returned (or, in Python, awaits), in Chromium as in wslearn's `WebSocket`.
# - `send()` throws `InvalidStateError` while CONNECTING and silently drops data once CLOSING or
#   CLOSED: send from `onopen` onwards, and guard with `readyState === WebSocket.OPEN`.
# - A connection that never opened fires `error` then `close` 1006; one that was open and lost
#   TCP fires only `close` 1006; a server's close frame gives a clean `close` with its code.
#   The `error` event never says why.
# - Listeners are independent: an exception in one is reported and the socket carries on.
# - Binary messages are a `Blob` or an `ArrayBuffer` in a browser (`binaryType`), `bytes` here.
#
# Next, notebook 04: the closing handshake in detail, every close code, and `wasClean`.

# %%
await servers.stop()
