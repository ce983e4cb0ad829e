// Who may read chrome.storage.local, where the settings (and the pairing token) live.

/**
 * Keep storage.local to the extension's own pages and worker, out of content scripts' reach,
 * where the browser allows it: Chromium has StorageArea.setAccessLevel for local storage
 * (it keeps the level in the extension's preferences); Firefox has it for storage.session
 * only, so there the call fails and content scripts keep read access (they never use it).
 * Returns whether the restriction is in place.
 */
export async function restrictStorageAccess(storage) {
  const area = storage?.local;
  if (typeof area?.setAccessLevel !== "function") return false;
  try {
    await area.setAccessLevel({ accessLevel: "TRUSTED_CONTEXTS" });
    return true;
  } catch {
    return false;
  }
}
