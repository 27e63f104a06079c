import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's Chromium (apt-get install chromium); EAS_CHROMIUM names another build. */
export const CHROMIUM = process.env.EAS_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

export interface Chromium {
  /** A headless persistent context that accepts downloads; actions time out after 30 s. */
  context: BrowserContext;
  /** Its own fresh profile folder, free for a test's files (downloads saved with saveAs). */
  profile: string;
  /** Closes the browser and removes the profile folder; never throws. */
  close(): Promise<void>;
}

/** Headless Chromium driven by playwright-core in a fresh profile folder named after `prefix`; the launch is bounded (60 s). */
export async function launchChromium(prefix: string): Promise<Chromium> {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
  } catch {
    throw new Error(`Chromium: ${CHROMIUM} is missing or not executable; expected a Chromium binary there (apt-get install chromium) or its path in EAS_CHROMIUM`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), `eas-${prefix}-`));
  const removeProfile = () => fs.rmSync(profile, { recursive: true, force: true });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, acceptDownloads: true, timeout: 60_000 });
  } catch (e) {
    removeProfile();
    throw e;
  }
  context.setDefaultTimeout(30_000);
  return {
    context,
    profile,
    close: async () => {
      await context.close().catch(() => {});
      removeProfile();
    },
  };
}
