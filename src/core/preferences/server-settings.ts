// TEMPORARY stand-in for the foundation's file (issue 13): replaced by main's version at merge.
import { z } from 'zod';
import { ASPECT_RATIOS, RESOLUTIONS } from '../models.js';

export const serverSettingsSchema = z.object({
  model: z.string().min(1).max(100).optional(),
  aspectRatio: z.enum(ASPECT_RATIOS).optional(),
  resolution: z.enum(RESOLUTIONS).optional(),
  channels: z.array(z.string()).max(100).optional(),
  dailyImages: z.number().int().min(0).max(1_000_000).optional(),
  auditChannelId: z.string().optional(),
  privateResults: z.boolean().optional(),
  threads: z.boolean().optional(),
});
export type ServerSettings = z.infer<typeof serverSettingsSchema>;
