// Which frame of a tab the keyboard shortcut and the popup should check. The context menu is
// told the frame it was opened in; these two are not, so they ask every frame of the tab what
// it knows (focus, selection) and pick the focused one, as the menu would have.

/**
 * Injected into every frame (scripting.executeScript `func`, so self-contained): whether this
 * frame's document has the focus, whether its focus is on a child frame (the focus is further
 * down), and whether it holds a selection.
 */
export function probeFocus() {
  const active = document.activeElement;
  const tag = active?.tagName;
  let selected = false;
  try {
    if (typeof active?.selectionStart === "number" && typeof active?.selectionEnd === "number") {
      selected = active.selectionEnd > active.selectionStart;
    } else {
      const selection = getSelection();
      selected = Boolean(selection && !selection.isCollapsed && selection.toString().trim());
    }
  } catch {
    selected = false;
  }
  return {
    focused: document.hasFocus(),
    inChildFrame: tag === "IFRAME" || tag === "FRAME",
    selected,
  };
}

/**
 * The frame id to check, from executeScript results ([{frameId, result}]). The focused frame
 * whose focus is not on a child frame wins (with the shortcut, the page has the focus). With
 * the popup open the page has none: the top frame if its focus was its own, else the one
 * child frame that holds a selection. Otherwise 0: the top frame says where to look.
 */
export function pickFrame(results) {
  const frames = (Array.isArray(results) ? results : []).filter(
    (r) => r && Number.isInteger(r.frameId) && r.result && typeof r.result === "object",
  );
  const leaves = frames.filter((r) => !r.result.inChildFrame);
  const focused = leaves.filter((r) => r.result.focused);
  if (focused.length) return (focused.find((r) => r.result.selected) ?? focused[0]).frameId;
  const top = frames.find((r) => r.frameId === 0);
  if (!top || !top.result.inChildFrame) return 0;
  const selected = leaves.filter((r) => r.frameId !== 0 && r.result.selected);
  return selected.length === 1 ? selected[0].frameId : 0;
}

/** The frame to check in `tabId`; 0 (the top frame) when the frames cannot be asked. */
export async function focusedFrameId(scripting, tabId) {
  try {
    const results = await scripting.executeScript({ target: { tabId, allFrames: true }, func: probeFocus });
    return pickFrame(results);
  } catch {
    return 0;
  }
}
