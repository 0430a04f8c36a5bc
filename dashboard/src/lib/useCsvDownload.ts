import { useState } from 'preact/hooks';
import { errorMessage } from '../api/client';
import { useToast } from '../components/Toasts';
import { downloadText } from './csv';

/** A CSV download button's state and action: fetch, save as `filename`, and say how it went in a toast. */
export function useCsvDownload(): [boolean, (fetchCsv: () => Promise<string>, filename: string, done: string) => Promise<void>] {
  const toast = useToast();
  const [downloading, setDownloading] = useState(false);
  const download = async (fetchCsv: () => Promise<string>, filename: string, done: string) => {
    setDownloading(true);
    try {
      downloadText(filename, await fetchCsv());
      toast.success(done);
    } catch (err) {
      toast.error(`Could not download the CSV: ${errorMessage(err)}`);
    } finally {
      setDownloading(false);
    }
  };
  return [downloading, download];
}
